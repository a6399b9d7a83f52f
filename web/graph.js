// The mesh graph as SVG: one column per kind of node, left to right as the
// traffic flows, edges as curves, route weights on the edges.

import { s } from './dom.js';

const W = 190; // node width
const H = 46; // node height
const GAP_X = 80;
const GAP_Y = 14;
const TOP = 34;

const TITLES = {
  virtualGateway: 'virtual gateways',
  gatewayRoute: 'gateway routes',
  virtualService: 'virtual services',
  virtualRouter: 'virtual routers',
  route: 'routes',
  virtualNode: 'virtual nodes',
  cloudMapService: 'service discovery',
  endpoint: 'endpoints',
};

function column(kind) {
  return kind === 'dns' ? 'cloudMapService' : kind;
}

function clip(text, n) {
  return text.length > n ? text.slice(0, n - 1) + '…' : text;
}

// layout places the nodes: columns in the graph's order (empty ones left
// out), and in each column the nodes ordered by the mean row of the nodes
// that lead to them, so that edges cross little.
export function layout(graph) {
  const byCol = new Map(graph.columns.map((c) => [c, []]));
  for (const n of graph.nodes) byCol.get(column(n.kind))?.push(n);
  const cols = graph.columns.filter((c) => byCol.get(c).length);
  const preds = new Map();
  for (const e of graph.edges) {
    if (!preds.has(e.to)) preds.set(e.to, []);
    preds.get(e.to).push(e.from);
  }
  const pos = new Map();
  cols.forEach((c, i) => {
    const nodes = byCol.get(c);
    const rank = new Map(nodes.map((n, j) => {
      const rows = (preds.get(n.id) || []).filter((p) => pos.has(p)).map((p) => pos.get(p).row);
      return [n.id, rows.length ? rows.reduce((a, b) => a + b, 0) / rows.length : j];
    }));
    nodes.sort((a, b) => rank.get(a.id) - rank.get(b.id) || (a.id < b.id ? -1 : 1));
    nodes.forEach((n, row) => pos.set(n.id, { x: 10 + i * (W + GAP_X), y: TOP + row * (H + GAP_Y), row, col: i }));
  });
  const rows = Math.max(1, ...cols.map((c) => byCol.get(c).length));
  return { cols, pos, width: 20 + cols.length * (W + GAP_X) - GAP_X, height: TOP + rows * (H + GAP_Y) + 10 };
}

// renderGraph returns the graph as an <svg>.
export function renderGraph(graph) {
  const { cols, pos, width, height } = layout(graph);
  const svg = s('svg', { id: 'mesh-graph', width, height, viewBox: `0 0 ${width} ${height}`, role: 'img',
    'aria-label': 'mesh graph of ' + graph.mesh });
  svg.append(s('defs', {}, s('marker', { id: 'arrow', viewBox: '0 0 10 10', refX: 9, refY: 5, markerWidth: 7,
    markerHeight: 7, orient: 'auto-start-reverse' }, s('path', { d: 'M 0 0 L 10 5 L 0 10 z', class: 'arrowhead' }))));
  cols.forEach((c, i) => svg.append(s('text', { x: 10 + i * (W + GAP_X), y: 16, class: 'col-title' }, TITLES[c] || c)));

  for (const e of graph.edges) {
    const a = pos.get(e.from);
    const b = pos.get(e.to);
    if (!a || !b) continue;
    const x1 = a.x + W;
    const y1 = a.y + H / 2;
    const x2 = b.x - 2;
    const y2 = b.y + H / 2;
    const mx = (x1 + x2) / 2;
    const g = s('g', { class: 'edge', 'data-from': e.from, 'data-to': e.to });
    g.append(s('path', { d: `M ${x1} ${y1} C ${mx} ${y1}, ${mx} ${y2}, ${x2} ${y2}`, 'marker-end': 'url(#arrow)' }));
    if (e.weight !== undefined) {
      // By the arrowhead: targets are distinct nodes, so labels never overlap.
      const label = `${e.weight} (${Math.round(e.share || 0)}%)`;
      g.append(s('text', { x: x2 - 8, y: y2 - 6, class: 'weight', 'text-anchor': 'end' }, label));
    }
    svg.append(g);
  }

  for (const n of graph.nodes) {
    const p = pos.get(n.id);
    if (!p) continue;
    const classes = ['node', n.kind];
    if (n.missing) classes.push('missing');
    if (n.kind === 'endpoint') classes.push((n.health || 'UNKNOWN').toLowerCase(), n.excluded ? 'excluded' : 'serving');
    const g = s('g', { class: classes.join(' '), 'data-node-id': n.id, 'data-health': n.health || null,
      transform: `translate(${p.x} ${p.y})` });
    const title = [n.label, n.detail, n.instance && 'instance ' + n.instance, n.health, n.reason]
      .filter(Boolean).join('\n');
    g.append(s('title', {}, title));
    g.append(s('rect', { width: W, height: H, rx: 6 }));
    g.append(s('text', { x: 10, y: 19, class: 'label' }, clip(n.label, 25)));
    let sub = n.detail || '';
    if (n.kind === 'endpoint') sub = (n.excluded ? 'excluded · ' : '') + (n.health || '') + ' · ' + n.instance;
    if (n.missing) sub = 'not found';
    if (sub) g.append(s('text', { x: 10, y: 36, class: 'detail' }, clip(sub, 32)));
    svg.append(g);
  }
  return svg;
}
