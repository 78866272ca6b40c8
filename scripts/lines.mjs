// The two release lines built from this repository: one package name, one major per Effect major. A line's
// package carries only its own face, and its `effect` peer range lets npm refuse the other major's app, so neither
// major can load the other's code. `latest` on the registry is the Effect 4 line; the Effect 3 line is published
// under the `effect3` dist-tag (`npm install effect-remote-cache@effect3`).
export const lines = {
  effect3: {
    effect: 3,
    version: "1.0.0",
    tag: "effect3",
    peer: "^3.22.0",
    // Each needed by one module only, which the package root never loads: KeyValueStore (Effect 3's KeyValueStore
    // lives in @effect/platform) and Persistence (Effect 3's BackingPersistence lives in @effect/experimental, which
    // itself needs @effect/platform).
    optionalPeers: { "@effect/platform": "^0.97.0", "@effect/experimental": "^0.61.0" },
    // Public modules (src/<name>.ts) this line does not have, for a module over a service its Effect major lacks:
    // EffectRedis provides Effect 4's `Redis` service (it imports `#effect/Redis`, which src/compat/effect3 lacks).
    omit: ["EffectRedis"],
    node: ">=20",
    // Effect 3 ships CommonJS too, so this line does: an `import` and a `require` build, each with its .d.ts.
    formats: ["esm", "cjs"]
  },
  effect4: {
    effect: 4,
    version: "2.0.0",
    tag: "latest",
    peer: "^4.1.5",
    // Effect 4 is ES modules only; CommonJS apps load both through require(esm), in Node 20.19+ and 22.12+.
    node: ">=20.19",
    formats: ["esm"]
  }
}
