export * from "effect/Schema"
import { expectedLeaf, type IssueLeaf } from "../../core/serializer/issueLeaf.js"

// ---------------------------------------------------------------------------------------------------------------
// Entries for the backends and serializers (`Serializer.schema`, the typed views' decoding): two neutral helpers,
// `typeDescription` and `issueLeaves`, that read a schema and a schema error the same way on both majors (their
// ASTs and issue trees differ).
// ---------------------------------------------------------------------------------------------------------------
import type { SchemaError as SchemaError4 } from "effect/Schema"
import type * as SchemaAST4 from "effect/SchemaAST"
import * as SchemaIssue4 from "effect/SchemaIssue"

const EXPECTED = "Expected "

// Effect 4 keeps the text of an AST's type internal. Its default message for a type mismatch made without the input
// (so none is quoted) is "Expected <that text>", or the schema's own `message` annotation, a fixed text.
const astDescription = (ast: SchemaAST4.AST): string => {
  const text = SchemaIssue4.defaultLeafHook(new SchemaIssue4.InvalidType(ast))
  return text.startsWith(EXPECTED) ? text.slice(EXPECTED.length) : text
}

/**
 * Neutral helper: the type a schema accepts, as text, for messages (`object`, `2`, a class's identifier). On
 * Effect 4 the text its default messages use after "Expected".
 */
export const typeDescription = (schema: { readonly ast: SchemaAST4.AST }): string => astDescription(schema.ast)

/** One failure of a schema error (see `core/serializer/issueLeaf.ts`). */
export type { IssueLeaf } from "../../core/serializer/issueLeaf.js"

/**
 * Neutral helper: every failure of a schema error, in order, as {@link IssueLeaf}s. It reads the issue tree's
 * paths and expected types only, never the actual values nor the messages a check returns (which may quote them),
 * so a message built from it never quotes a cached value. On Effect 4 it walks the `SchemaIssue` tree: a failed
 * check expects what the check's `expected` annotation says, a failed transformation the type it decodes to.
 */
export const issueLeaves = (error: SchemaError4): Array<IssueLeaf> => {
  const leaves: Array<IssueLeaf> = []
  // `context`: what the nearest enclosing check or transformation expects, said for an `InvalidValue` under it (whose
  // own annotations are the check's output, which may quote the value).
  const go = (issue: SchemaIssue4.Issue, path: ReadonlyArray<PropertyKey>, context: string | undefined): void => {
    switch (issue._tag) {
      case "Pointer":
        return go(issue.issue, path.concat(issue.path), context)
      case "Filter": {
        const expected = issue.filter.annotations?.expected
        return go(issue.issue, path, typeof expected === "string" ? expected : "a value passing a check")
      }
      case "Encoding":
        return go(issue.issue, path, astDescription(issue.ast))
      case "Composite":
        for (const child of issue.issues) go(child, path, context)
        return
      case "AnyOf": {
        // The members' own failures when some lie deeper (a field of the member the value came closest to); when
        // none does (no member came close, or only a nested union of literals did), the value is none of the
        // union's types, said once.
        const start = leaves.length
        for (const child of issue.issues) go(child, path, context)
        if (leaves.slice(start).every((leaf) => leaf.path.length === path.length)) {
          leaves.splice(start, leaves.length - start, expectedLeaf(path, () => astDescription(issue.ast)))
        }
        return
      }
      case "InvalidType":
        leaves.push(expectedLeaf(path, () => astDescription(issue.ast)))
        return
      case "InvalidValue":
        leaves.push({ _tag: "Expected", path, expected: context ?? "a valid value" })
        return
      case "OneOf":
        leaves.push({ _tag: "Expected", path, expected: `exactly one member of ${astDescription(issue.ast)}` })
        return
      case "MissingKey":
        leaves.push({ _tag: "Missing", path })
        return
      case "UnexpectedKey":
        leaves.push({ _tag: "Unexpected", path })
        return
      case "Forbidden":
        leaves.push({ _tag: "Forbidden", path, reason: "is refused by the schema (a forbidden operation)" })
        return
    }
  }
  go(error.issue, [], undefined)
  return leaves
}
