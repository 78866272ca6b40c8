export * from "effect/Schema"
import { expectedLeaf, type IssueLeaf } from "../../core/serializer/issueLeaf.js"

// ---------------------------------------------------------------------------------------------------------------
// Entries for the backends and serializers (`Serializer.schema`, the typed views' decoding): Schema 4's names on
// Effect 3's Schema, plus two neutral helpers, `typeDescription` and `issueLeaves`, that read a schema and a schema
// error the same way on both majors (their ASTs and issue trees differ).
// ---------------------------------------------------------------------------------------------------------------
import type * as ParseResult3 from "effect/ParseResult"
import type * as Schema3 from "effect/Schema"
import type * as SchemaAST3 from "effect/SchemaAST"

/**
 * Schema 4's `Schema.Codec<T, E, RD, RE>`, a schema decoding `E` into `T` with the services `RD` and encoding with
 * `RE`. Effect 3's schemas have one set of services for both directions: `Schema.Schema<T, E, RD | RE>`.
 */
export type Codec<T, E = T, RD = never, RE = never> = Schema3.Schema<T, E, RD | RE>

/**
 * Schema 4's `Schema.SchemaError`, the failure of a decoding or an encoding: Effect 3's `ParseResult.ParseError`
 * (whose tag is `"ParseError"`), the class and its type.
 */
export { ParseError as SchemaError } from "effect/ParseResult"

/** Schema 4's `Schema.decodeUnknownEffect`: Effect 3's `Schema.decodeUnknown` (fails with a `ParseError`). */
export { decodeUnknown as decodeUnknownEffect } from "effect/Schema"

/** Schema 4's `Schema.encodeUnknownEffect`: Effect 3's `Schema.encodeUnknown` (fails with a `ParseError`). */
export { encodeUnknown as encodeUnknownEffect } from "effect/Schema"

/** Schema 4's `Schema.encodeEffect`: Effect 3's `Schema.encode` (fails with a `ParseError`). */
export { encode as encodeEffect } from "effect/Schema"

/**
 * Schema 4's `Schema.toCodecJson(schema)`, the schema whose `Encoded` side is plain JSON. On Effect 3 the schema
 * itself: its `Encoded` side is already what Effect 3 schemas write to JSON (`Schema.Date` there encodes to a
 * string), so nothing changes for Effect 3 users.
 */
export const toCodecJson = <A, I, R>(schema: Schema3.Schema<A, I, R>): Schema3.Schema<A, I, R> => schema

/**
 * Neutral helper: the type a schema accepts, as text, for messages (`{ readonly a: number }`, `2`, a class's
 * name). On Effect 3 the text of its AST.
 */
export const typeDescription = (schema: { readonly ast: SchemaAST3.AST }): string => String(schema.ast)

/** One failure of a schema error (see `core/serializer/issueLeaf.ts`). */
export type { IssueLeaf } from "../../core/serializer/issueLeaf.js"

/**
 * Neutral helper: every failure of a schema error, in order, as {@link IssueLeaf}s. It reads the issue tree's
 * paths and expected types only, never the actual values nor custom messages (which may quote them), so a message
 * built from it never quotes a cached value. On Effect 3 it walks the `ParseIssue` tree.
 */
export const issueLeaves = (error: ParseResult3.ParseError): Array<IssueLeaf> => {
  const leaves: Array<IssueLeaf> = []
  const go = (issue: ParseResult3.ParseIssue, path: ReadonlyArray<PropertyKey>): void => {
    switch (issue._tag) {
      case "Pointer":
        return go(issue.issue, path.concat(issue.path))
      case "Refinement":
      case "Transformation":
        return go(issue.issue, path)
      case "Composite": {
        const issues: ReadonlyArray<ParseResult3.ParseIssue> = Array.isArray(issue.issues)
          ? issue.issues
          : [issue.issues as ParseResult3.ParseIssue]
        for (const child of issues) go(child, path)
        return
      }
      case "Type":
        leaves.push(expectedLeaf(path, () => String(issue.ast)))
        return
      case "Missing":
      case "Unexpected":
        leaves.push({ _tag: issue._tag, path })
        return
      case "Forbidden":
        // Effect 3 reports this for an asynchronous step met by a synchronous run.
        leaves.push({ _tag: "Forbidden", path, reason: "could not be checked synchronously" })
        return
    }
  }
  go(error.issue, [])
  return leaves
}
