import { describe, expect, it } from "vitest"
import { makeCheckCommand } from "../../src/core/client/checkCommand.js"
import type { InputFields } from "../../src/core/client/failure.js"

const made: Array<InputFields> = []
const checkCommand = makeCheckCommand((fields) => {
  made.push(fields)
  return fields
})

describe("checkCommand", () => {
  it("passes ordinary commands without making an error", () => {
    made.length = 0
    expect(checkCommand(["GET", "k"], 100)).toBeUndefined()
    expect(checkCommand(["MSET", "k", Buffer.from("v")], 100)).toBeUndefined()
    expect(checkCommand(["CLIENT", "SETNAME", "x"], 100)).toBeUndefined()
    expect(made).toEqual([])
  })

  it("refuses empty commands, arguments of other types, and arguments over the limit", () => {
    expect(checkCommand([], 100)?.message).toBe("an empty command cannot be sent: Redis would not answer it")
    expect(checkCommand(["SET", "k", 1 as unknown as string], 100)).toEqual({
      message: "argument 2 of SET is number: only strings and Uint8Arrays can be sent",
      command: "SET"
    })
    expect(checkCommand(["set", "k", "x".repeat(101)], 100)?.message).toBe(
      "argument 2 of SET is 101 bytes, over maxArgumentLength (100): the server would close the connection"
    )
    expect(checkCommand(["SET", "k", "é".repeat(51)], 100, (limit) => `the limit (${limit})`)?.message).toContain(
      "is 102 bytes, over the limit (100)"
    )
  })

  it("refuses commands that do not get exactly one reply, by name whatever its case or type", () => {
    expect(checkCommand(["subscribe", "ch"], 100)?.message).toBe(
      "SUBSCRIBE is not supported by send or pipeline: it does not get exactly one reply, so every later reply " +
        "would reach the wrong command (use subscribe)"
    )
    expect(checkCommand([Buffer.from("MONITOR")], 100)?.command).toBe("MONITOR")
    expect(checkCommand(["client", "reply", "off"], 100)?.command).toBe("CLIENT REPLY")
    expect(checkCommand(["RESET"], 100)?.message).toContain("undo the connection's handshake")
  })
})
