// Node 20 lacks Promise.withResolvers (added in Node 22). Current js-libp2p (libp2p 3.x and,
// through its caret ranges, 2.x too) reaches it via it-queue and mortice, so without this a
// Node 20 run dies on the first peer-store write with "Promise.withResolvers is not a function".
// A no-op on Node >= 22. Imported before libp2p by interop.mjs.
if (typeof Promise.withResolvers !== 'function') {
  Promise.withResolvers = function withResolvers () {
    let resolve, reject
    const promise = new this((res, rej) => { resolve = res; reject = rej })
    return { promise, resolve, reject }
  }
}
