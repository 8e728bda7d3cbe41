#!/usr/bin/env node
// Interop check: js-libp2p against an agenthost relay and an agenthost agent reserved on it.
//
//   node interop.mjs <relay-multiaddr> <agent-peer-id> [agent-direct-multiaddr]
//
// <relay-multiaddr> is the `relay: /ip4/.../tcp/PORT/p2p/12D3KooW...` line printed by
// `agenthost relay`; <agent-peer-id> the `peer_id:` line of `agenthost host --relay <relay>`.
// [agent-direct-multiaddr] is optional: one of the agent's `listen:` TCP addresses; without it
// the direct dial uses the loopback TCP address the agent announces through identify.
//
// Steps (each printed; the first failure exits 1 naming the step):
//   1. TCP + Noise + Yamux to the relay; identify lists its protocols; ping.
//   2. js node B reserves a slot on the relay (listens on <relay>/p2p-circuit); js node C dials
//      B through the circuit (hop + stop, js on both ends) and pings it.
//   3. js node dials the agent through the circuit, one /agenthost/agent/1 stream, one INPUT
//      frame, frames until OUTPUT; then the same request over a direct TCP dial.

import './node20-polyfill.mjs' // must stay first: see the file
import { createLibp2p } from 'libp2p'
import { tcp } from '@libp2p/tcp'
import { noise } from '@chainsafe/libp2p-noise'
import { yamux } from '@chainsafe/libp2p-yamux'
import { identify } from '@libp2p/identify'
import { ping } from '@libp2p/ping'
import { circuitRelayTransport } from '@libp2p/circuit-relay-v2'
import { multiaddr } from '@multiformats/multiaddr'

const AGENT_PROTOCOL = '/agenthost/agent/1'
const EXPECTED_RELAY_PROTOCOLS = ['/libp2p/circuit/relay/0.2.0/hop', '/ipfs/id/1.0.0', '/ipfs/ping/1.0.0']
const PROMPT = 'hello from js-libp2p'
const STEP_TIMEOUT_MS = 20_000
const OVERALL_TIMEOUT_MS = 90_000
const MAX_FRAME = 16 * 1024 * 1024

const [relayArg, agentPeerId, directArg] = process.argv.slice(2)
if (relayArg == null || agentPeerId == null) {
  console.error('usage: node interop.mjs <relay-multiaddr> <agent-peer-id> [agent-direct-multiaddr]')
  process.exit(2)
}

const nodes = []
let step = 'setup'

function log (msg) { console.log(msg) }

async function shutdown () {
  await Promise.allSettled(nodes.map(n => n.stop()))
}

async function fail (msg, err) {
  console.error(`FAIL [${step}]: ${msg}`)
  if (err != null) console.error(err?.stack ?? String(err))
  await Promise.race([shutdown(), new Promise(resolve => setTimeout(resolve, 2000))])
  process.exit(1)
}

function check (cond, msg) {
  if (!cond) throw new CheckError(msg)
}
class CheckError extends Error {}

const watchdog = setTimeout(() => { fail(`gave up after ${OVERALL_TIMEOUT_MS / 1000} s`) }, OVERALL_TIMEOUT_MS)

async function makeNode (listen = []) {
  const node = await createLibp2p({
    addresses: { listen },
    transports: [tcp(), circuitRelayTransport()],
    connectionEncrypters: [noise()],
    streamMuxers: [yamux()],
    // identify runs by itself on every new connection, and this script also asks explicitly
    // (to print and check what the remote announces). With the default limit of one outbound
    // identify stream per connection the two race, and the loser fails with
    // TooManyOutboundProtocolStreamsError whenever the automatic one is still in flight.
    services: { identify: identify({ maxOutboundStreams: 2 }), ping: ping() }
  })
  nodes.push(node)
  return node
}

const timeout = () => ({ signal: AbortSignal.timeout(STEP_TIMEOUT_MS) })

// ---- unsigned-varint length-prefixed JSON frames (docs/WIRE.md §5) ----

function encodeVarint (n) {
  const out = []
  while (n >= 0x80) { out.push((n & 0x7f) | 0x80); n = Math.floor(n / 128) }
  out.push(n)
  return Uint8Array.from(out)
}

function encodeFrame (obj) {
  const body = new TextEncoder().encode(JSON.stringify(obj))
  const len = encodeVarint(body.length)
  const frame = new Uint8Array(len.length + body.length)
  frame.set(len, 0)
  frame.set(body, len.length)
  return frame
}

// Yields decoded JSON frames from a js-libp2p v3 stream (an async iterable of byte chunks).
async function * decodeFrames (stream) {
  let buf = new Uint8Array(0)
  for await (const chunk of stream) {
    const bytes = chunk instanceof Uint8Array ? chunk : chunk.subarray()
    const next = new Uint8Array(buf.length + bytes.length)
    next.set(buf, 0)
    next.set(bytes, buf.length)
    buf = next
    while (true) {
      let len = 0; let shift = 0; let i = 0; let complete = false
      while (i < buf.length && i < 10) {
        const b = buf[i++]
        len += (b & 0x7f) * 2 ** shift
        shift += 7
        if ((b & 0x80) === 0) { complete = true; break }
      }
      if (!complete) break
      if (len > MAX_FRAME) throw new CheckError(`frame of ${len} bytes exceeds ${MAX_FRAME}`)
      if (buf.length < i + len) break
      const text = new TextDecoder().decode(buf.subarray(i, i + len))
      buf = buf.subarray(i + len)
      yield JSON.parse(text)
    }
  }
  if (buf.length > 0) throw new CheckError(`stream ended inside a frame (${buf.length} bytes left)`)
}

async function agentRequest (node, target, label) {
  const conn = await node.dial(target, timeout())
  const relayed = conn.remoteAddr.toString().includes('/p2p-circuit')
  log(`  connected (${label}): remoteAddr=${conn.remoteAddr} limited=${conn.limits != null ? JSON.stringify(conn.limits, (k, v) => typeof v === 'bigint' ? v.toString() : v) : 'no'} encryption=${conn.encryption} muxer=${conn.multiplexer}`)
  check(conn.remotePeer.toString() === agentPeerId, `connected to ${conn.remotePeer}, expected ${agentPeerId}`)
  const stream = await conn.newStream(AGENT_PROTOCOL, { ...timeout(), runOnLimitedConnection: true })
  log(`  stream opened: protocol=${stream.protocol}`)
  const request = { type: 'INPUT', prompt: PROMPT }
  stream.send(encodeFrame(request))
  log(`  > ${JSON.stringify(request)}`)
  let output = null
  const frames = []
  const reading = (async () => {
    for await (const frame of decodeFrames(stream)) {
      frames.push(frame)
      log(`  < ${JSON.stringify(frame).slice(0, 300)}`)
      if (frame.type === 'OUTPUT' || frame.type === 'ERROR') { output = frame; break }
    }
  })()
  await Promise.race([
    reading,
    new Promise((resolve, reject) => setTimeout(() => reject(new CheckError(`no OUTPUT frame within ${STEP_TIMEOUT_MS} ms (${frames.length} frames so far)`)), STEP_TIMEOUT_MS))
  ])
  await stream.close().catch(() => {})
  check(output != null, `stream closed after ${frames.length} frames without a terminal frame`)
  check(output.type === 'OUTPUT', `agent answered ERROR: ${JSON.stringify(output)}`)
  check(output.result === `echo: ${PROMPT}`, `result was ${JSON.stringify(output.result)}, expected ${JSON.stringify(`echo: ${PROMPT}`)}`)
  check(typeof output.session_id === 'string' && output.session_id.length > 0, 'OUTPUT has no session_id')
  check(typeof output.duration_ms === 'number', 'OUTPUT has no numeric duration_ms')
  check(output.session != null && typeof output.session === 'object', 'OUTPUT has no session object')
  log(`  ok: result=${JSON.stringify(output.result)} session_id=${output.session_id} duration_ms=${output.duration_ms} frames=${frames.length} relayed=${relayed}`)
  return conn
}

async function run () {
  const relayMa = multiaddr(relayArg)
  const relayPeer = relayMa.getComponents().find(c => c.name === 'p2p')?.value
  check(relayPeer != null, `relay multiaddr ${relayArg} has no /p2p/<peer-id>`)
  log(`js-libp2p interop: relay=${relayArg} agent=${agentPeerId} node=${process.version}`)

  // ---- 1 ----
  step = '1 relay: dial, identify, ping'
  log(`\n[${step}]`)
  const a = await makeNode()
  const relayConn = await a.dial(relayMa, timeout())
  log(`  connected: remoteAddr=${relayConn.remoteAddr} encryption=${relayConn.encryption} muxer=${relayConn.multiplexer}`)
  check(relayConn.encryption === '/noise', `encryption ${relayConn.encryption}, expected /noise`)
  check(relayConn.multiplexer === '/yamux/1.0.0', `muxer ${relayConn.multiplexer}, expected /yamux/1.0.0`)
  const id = await a.services.identify.identify(relayConn, timeout())
  log(`  identify: agentVersion=${id.agentVersion} protocolVersion=${id.protocolVersion}`)
  log(`  identify: listenAddrs=${id.listenAddrs.map(String).join(' ')}`)
  log(`  identify: protocols:\n${[...id.protocols].sort().map(p => `    ${p}`).join('\n')}`)
  const missing = EXPECTED_RELAY_PROTOCOLS.filter(p => !id.protocols.includes(p))
  check(missing.length === 0, `relay's identify lacks ${missing.join(', ')}`)
  const rtt1 = await a.services.ping.ping(relayMa, timeout())
  log(`  ping relay: ${rtt1} ms`)
  log('  ok')

  // ---- 2 ----
  step = '2 js<->js through the relay (reservation, hop, stop)'
  log(`\n[${step}]`)
  const b = await makeNode([`${relayArg}/p2p-circuit`])
  const circuitAddr = await new Promise((resolve, reject) => {
    const find = () => b.getMultiaddrs().find(ma => ma.toString().includes('/p2p-circuit'))
    const found = find()
    if (found != null) { resolve(found); return }
    const t = setTimeout(() => reject(new CheckError(`no reservation: B has no /p2p-circuit address after ${STEP_TIMEOUT_MS} ms (addrs: ${b.getMultiaddrs().join(' ') || 'none'})`)), STEP_TIMEOUT_MS)
    b.addEventListener('self:peer:update', () => {
      const ma = find()
      if (ma != null) { clearTimeout(t); resolve(ma) }
    })
  })
  log(`  B (${b.peerId}) reserved: ${circuitAddr}`)
  const c = await makeNode()
  const cb = await c.dial(circuitAddr, timeout())
  log(`  C (${c.peerId}) -> B connected: remoteAddr=${cb.remoteAddr} limited=${cb.limits != null ? 'yes' : 'no'}`)
  check(cb.remotePeer.equals(b.peerId), `C reached ${cb.remotePeer}, expected B ${b.peerId}`)
  const rtt2 = await c.services.ping.ping(circuitAddr, timeout())
  log(`  ping B through the circuit: ${rtt2} ms`)
  log('  ok')

  // ---- 3 ----
  step = `3a agent through the circuit, ${AGENT_PROTOCOL}`
  log(`\n[${step}]`)
  const d = await makeNode()
  const agentCircuit = multiaddr(`${relayArg}/p2p-circuit/p2p/${agentPeerId}`)
  let relayedConn
  for (let attempt = 1; ; attempt++) {
    try {
      relayedConn = await agentRequest(d, agentCircuit, 'relayed')
      break
    } catch (err) {
      if (err instanceof CheckError || attempt >= 3) throw err
      log(`  attempt ${attempt} failed (${err.message}); the agent may still be reserving, retrying in 2 s`)
      await new Promise(resolve => setTimeout(resolve, 2000))
    }
  }
  log(`  (js dialer D is ${d.peerId})`)
  // Identify over the relayed connection. rust-libp2p's relay client gives an inbound circuit
  // the remote address /p2p/<dialer>, and the agent's identify reports that as observedAddr;
  // @libp2p/identify then throws while classifying it (it expects an IP/DNS address). Not one
  // of the required checks: printed as a WARN so the gap stays visible.
  const agentId = await d.services.identify.identify(relayedConn, timeout()).catch(err => {
    log(`  WARN identify of the agent over the circuit failed: ${err.message}`)
    return null
  })
  if (agentId != null) {
    log(`  agent identify (over the circuit): agentVersion=${agentId.agentVersion} protocols=${[...agentId.protocols].sort().join(' ')}`)
    check(agentId.protocols.includes(AGENT_PROTOCOL), `agent's identify lacks ${AGENT_PROTOCOL}`)
  }
  log('  ok')

  step = `3b agent over a direct TCP dial, ${AGENT_PROTOCOL}`
  log(`\n[${step}]`)
  const e = await makeNode()
  let directMa = directArg != null ? multiaddr(directArg) : null
  if (directMa == null && agentId != null) {
    // no address given: use the agent's loopback TCP listen address from identify, if it worked
    const tcpAddr = agentId.listenAddrs.find(ma => /^\/ip4\/127\.0\.0\.1\/tcp\/\d+$/.test(ma.toString()))
    if (tcpAddr != null) directMa = tcpAddr
  }
  check(directMa != null, 'no direct address: pass one of the agent\'s `listen:` TCP addresses as the third argument (identify over the circuit gave none)')
  if (!directMa.toString().includes('/p2p/')) directMa = multiaddr(`${directMa}/p2p/${agentPeerId}`)
  const directConn = await agentRequest(e, directMa, 'direct')
  check(!directConn.remoteAddr.toString().includes('/p2p-circuit'), `direct dial went through a relay: ${directConn.remoteAddr}`)
  check(directConn.limits == null, 'direct connection is limited')
  const directId = await e.services.identify.identify(directConn, timeout())
  log(`  agent identify (direct): agentVersion=${directId.agentVersion} observedAddr=${directId.observedAddr}`)
  log(`  agent identify: protocols=${[...directId.protocols].sort().join(' ')}`)
  log(`  agent identify: listenAddrs=${directId.listenAddrs.map(String).join(' ')}`)
  check(directId.protocols.includes(AGENT_PROTOCOL), `agent's identify lacks ${AGENT_PROTOCOL}`)
  log('  ok')

  log('\nall interop checks passed')
}

try {
  await run()
  clearTimeout(watchdog)
  await shutdown()
  process.exit(0)
} catch (err) {
  if (err instanceof CheckError) await fail(err.message)
  else await fail(err?.message ?? String(err), err)
}
