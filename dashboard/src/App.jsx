import { useEffect, useReducer, useState } from 'react';
import { applyMessage, initialState } from './feed/state.js';
import { connectFeed, feedUrl } from './feed/connection.js';
import MeshMap from './components/MeshMap.jsx';
import NodeCards from './components/NodeCards.jsx';
import TaskFeed from './components/TaskFeed.jsx';
import Chat from './components/Chat.jsx';

function reducer(state, msg) {
  return applyMessage(state, msg, Date.now());
}

// One clock for every "n s ago" and for edges that stop glowing.
function useNow(ms) {
  const [now, setNow] = useState(() => Date.now());
  useEffect(() => {
    const t = setInterval(() => setNow(Date.now()), ms);
    return () => clearInterval(t);
  }, [ms]);
  return now;
}

function FeedStatus({ status }) {
  let text;
  switch (status.state) {
  case 'live':
    text = 'live';
    break;
  case 'reconnecting':
    text = `reconnecting (closed ${status.code ?? '?'}`
      + `${status.reason ? ' ' + status.reason : ''}, attempt ${status.attempt})`;
    break;
  default:
    text = 'connecting';
  }
  return (
    <span className={`feed-status feed-${status.state}`} role="status"
          data-testid="feed-status" data-state={status.state}>
      feed: {text}
    </span>
  );
}

export default function App() {
  const [state, dispatch] = useReducer(reducer, undefined, initialState);
  const [status, setStatus] = useState({ state: 'connecting' });
  const now = useNow(500);

  useEffect(() => {
    const feed = connectFeed({ url: feedUrl(), onMessage: dispatch,
                               onStatus: setStatus });
    return () => feed.close();
  }, []);

  const up = state.order.filter((id) => state.nodes[id].up !== false).length;
  // up but passed over by routing for now: said apart from "up"
  const ejected = state.order.filter((id) => state.nodes[id].up !== false
                                            && state.nodes[id].ejected).length;

  return (
    <div className="app">
      <header className="top">
        <h1>Echo-System mesh</h1>
        <div className="summary" data-testid="summary"
             data-snapshots={state.snapshots}>
          <span>{up}/{state.order.length} nodes up</span>
          {ejected > 0 && (
            <span className="warn" data-testid="ejected-count">
              {ejected} ejected
            </span>
          )}
          <span>{state.queued} queued</span>
          <FeedStatus status={status} />
        </div>
      </header>
      <main className="grid">
        <section className="panel map-panel" aria-labelledby="map-h">
          <h2 id="map-h">Mesh map</h2>
          <MeshMap state={state} now={now} />
        </section>
        <section className="panel chat-panel" aria-labelledby="chat-h">
          <h2 id="chat-h">Chat</h2>
          <Chat state={state} />
        </section>
        <section className="panel cards-panel" aria-labelledby="cards-h">
          <h2 id="cards-h">Nodes</h2>
          <NodeCards state={state} now={now} />
        </section>
        <section className="panel feed-panel" aria-labelledby="feed-h">
          <h2 id="feed-h">Task feed</h2>
          <TaskFeed state={state} />
        </section>
      </main>
    </div>
  );
}
