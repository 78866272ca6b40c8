/**
 * One failure of a schema error, described without the value that failed: where it is (`path`, empty at the root)
 * and what was wrong: a value of another type or shape than `expected`, a missing key, an unexpected one, or an
 * operation the schema refuses (`reason` says which, in words that fit after the path). Both majors' Schema
 * adapters read their own issue trees into this shape, and the serializer's messages are written from it.
 */
export type IssueLeaf =
  | { readonly _tag: "Expected"; readonly path: ReadonlyArray<PropertyKey>; readonly expected: string }
  | { readonly _tag: "Missing"; readonly path: ReadonlyArray<PropertyKey> }
  | { readonly _tag: "Unexpected"; readonly path: ReadonlyArray<PropertyKey> }
  | { readonly _tag: "Forbidden"; readonly path: ReadonlyArray<PropertyKey>; readonly reason: string }

/** A leaf whose expected type's text is made only when read: an error may hold thousands of failures. */
export const expectedLeaf = (path: ReadonlyArray<PropertyKey>, describe: () => string): IssueLeaf => ({
  _tag: "Expected",
  path,
  get expected() {
    return describe()
  }
})
