import { useCallback, useEffect, useMemo, useState } from 'react';
import { Handle, Position, ReactFlow, ReactFlowProvider, applyNodeChanges,
         useReactFlow, useStore } from '@xyflow/react';
import { isLit, nodeStatus } from '../feed/state.js';

const ORCH = '__orchestrator';
const SIDES = [Position.Top, Position.Bottom, Position.Left, Position.Right];

// An edge leaves the orchestrator on the side facing its node and enters
// the node on the side facing back: with one pair of handles, a node above
// the orchestrator got a curve around both boxes.
function facing({ x, y }) {
  if (Math.abs(y) >= Math.abs(x)) {
    return y < 0 ? [Position.Top, Position.Bottom]
                 : [Position.Bottom, Position.Top];
  }
  return x < 0 ? [Position.Left, Position.Right]
               : [Position.Right, Position.Left];
}

function OrchestratorNode() {
  return (
    <div className="map-node map-orch" data-testid="map-orchestrator">
      <strong>orchestrator</strong>
      <span>nginx + mesh module</span>
      {SIDES.map((side) => (
        <Handle key={side} id={side} type="source" position={side}
                isConnectable={false} className="map-handle" />
      ))}
    </div>
  );
}

function MeshNode({ data }) {
  return (
    <div className={`map-node map-${data.status}`}
         data-testid={`map-node-${data.id}`} data-status={data.status}
         title={`${data.id}: ${data.status}`}>
      {SIDES.map((side) => (
        <Handle key={side} id={side} type="target" position={side}
                isConnectable={false} className="map-handle" />
      ))}
      <strong>{data.id}</strong>
      <span>{data.status} · {data.active}/{data.max}</span>
    </div>
  );
}

const nodeTypes = { orch: OrchestratorNode, mesh: MeshNode };

// The orchestrator in the middle, the nodes on a circle around it, in the
// order they joined.  A fixed layout: the graph is a star, and cards keep
// their place when one node goes down.
function layout(ids) {
  const r = Math.max(160, ids.length * 45);
  return ids.map((id, i) => {
    const a = (2 * Math.PI * i) / Math.max(1, ids.length) - Math.PI / 2;
    return { id, x: Math.round(r * Math.cos(a)), y: Math.round(r * Math.sin(a)) };
  });
}

// Fits the graph again when nodes come or go and when the map is resized
// (a phone turned, a window narrowed).
function Fit({ count }) {
  const { fitView } = useReactFlow();
  const width = useStore((s) => s.width);
  const height = useStore((s) => s.height);
  useEffect(() => {
    const t = setTimeout(() => fitView({ padding: 0.2, duration: 0 }), 0);
    return () => clearTimeout(t);
  }, [count, width, height, fitView]);
  return null;
}

function MapView({ state, now }) {
  const pos = useMemo(() => layout(state.order), [state.order]);

  const nodes = useMemo(() => [
    { id: ORCH, type: 'orch', position: { x: -70, y: -25 }, data: {},
      draggable: false, selectable: false },
    ...pos.map(({ id, x, y }) => {
      const n = state.nodes[id];
      return {
        id, type: 'mesh', position: { x: x - 60, y: y - 25 },
        draggable: false,
        data: { id, status: nodeStatus(n), active: n.active_tasks ?? 0,
                max: n.max_tasks ?? '?' },
        ariaLabel: `node ${id}, ${nodeStatus(n)}`,
      };
    }),
  ], [pos, state.nodes]);

  // React Flow measures each node once and keeps the size on the node
  // object (onNodesChange); new objects from the feed keep the old size,
  // else the nodes stay hidden until something resizes them.
  const [shown, setShown] = useState([]);
  useEffect(() => {
    setShown((prev) => {
      const old = new Map(prev.map((n) => [n.id, n]));
      return nodes.map((n) => (old.has(n.id)
        ? { ...n, measured: old.get(n.id).measured } : n));
    });
  }, [nodes]);
  const onNodesChange = useCallback(
    (changes) => setShown((ns) => applyNodeChanges(changes, ns)), []);

  const edges = useMemo(() => pos.map((p) => {
    const { id } = p;
    const lit = isLit(state, id, now);
    const down = nodeStatus(state.nodes[id]) === 'down';
    const [from, to] = facing(p);
    return {
      id: `e-${id}`, source: ORCH, target: id, animated: lit,
      sourceHandle: from, targetHandle: to,
      className: lit ? 'edge-lit' : (down ? 'edge-down' : 'edge-idle'),
      data: { lit },
    };
  }), [pos, state, now]);

  return (
    <div className="map" data-testid="mesh-map"
         data-lit={state.order.filter((id) => isLit(state, id, now)).join(',')}>
      <ReactFlow nodes={shown} edges={edges} nodeTypes={nodeTypes}
                 onNodesChange={onNodesChange}
                 fitView nodesDraggable={false} nodesConnectable={false}
                 elementsSelectable={false} zoomOnScroll={false}
                 panOnScroll={false} preventScrolling={false}
                 minZoom={0.3} maxZoom={1.5}>
        <Fit count={state.order.length} />
      </ReactFlow>
      {state.order.length === 0
        && <p className="empty map-empty">No node has joined yet.</p>}
    </div>
  );
}

export default function MeshMap(props) {
  return (
    <ReactFlowProvider>
      <MapView {...props} />
    </ReactFlowProvider>
  );
}
