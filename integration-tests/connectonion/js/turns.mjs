// ConnectOnion's TypeScript client (npm `connectonion` 0.1.4): `connect(address, {directUrl})`
// then `input()` several times, as its README shows. It signs a v1 CONNECT (no
// signed_commands) and sends plain INPUT frames. Prints one JSON line per turn:
// {"turn", "reply", "session_id", "session_turn"} or {"turn", "error"}.
//
// Usage: node turns.mjs ADDRESS HTTP_URL TURNS
import { connect } from 'connectonion';

const [address, url, turns] = process.argv.slice(2);
const agent = connect(address, { directUrl: url });
for (let turn = 1; turn <= Number(turns); turn++) {
  try {
    const response = await agent.input(`t ${turn}`, { timeoutMs: 30000 });
    const session = agent.currentSession ?? agent._currentSession ?? {};
    console.log(JSON.stringify({
      turn, reply: response.text, session_id: session.session_id, session_turn: session.turn,
    }));
  } catch (failed) {
    console.log(JSON.stringify({ turn, error: String(failed) }));
    break;
  }
}
process.exit(0);
