import { describe, expect, it } from "vitest"
import { decodeMessage, encodeMessage, type Message } from "../../src/core/tiered/message.js"

describe("the invalidation bus message codec", () => {
  it("round-trips every kind of message", () => {
    const messages: ReadonlyArray<Message> = [
      { o: "i", t: "s", p: "app:", k: "user:1" },
      { o: "i", t: "d", p: "app:", k: "" },
      { o: "i", t: "c", p: "" },
      { o: "i", t: "m", p: "app:", ks: ["a", "b"] },
      { o: "i", t: "g", p: "app:", g: ["t"], a: 1.5, h: 1 }
    ]
    for (const message of messages) expect(decodeMessage(encodeMessage(message))).toStrictEqual(message)
  })

  it("ignores anything else on the channel rather than trusting it", () => {
    const bytes = (text: string) => new TextEncoder().encode(text)
    for (
      const text of [
        "",
        "not json",
        "null",
        "[]",
        "{\"o\":\"i\",\"t\":\"s\",\"p\":\"a:\"}",
        "{\"o\":\"i\",\"t\":\"g\",\"p\":\"a:\",\"g\":[\"t\"]}",
        "{\"o\":\"i\",\"t\":\"m\",\"p\":\"a:\",\"ks\":[1]}",
        "{\"o\":1,\"t\":\"c\",\"p\":\"a:\"}",
        "{\"o\":\"i\",\"t\":\"x\",\"p\":\"a:\"}"
      ]
    ) expect(decodeMessage(bytes(text)), text).toBeUndefined()
    expect(decodeMessage(new Uint8Array([0xff, 0xfe, 0x00]))).toBeUndefined()
  })
})
