// The console: a hash router over views of the console API, kept live by
// the events stream. Each view loads its data, renders it, and says which
// changes concern it; a change that does makes it load again.

import * as api from './api.js';
import { h, health, spec, table, time } from './dom.js';
import { renderGraph } from './graph.js';

const state = {
  auth: 'none',
  caller: null,
  accounts: [],
  xds: false,
  account: '',
  region: '',
  view: null,
  seq: 0, // the latest load; older ones are not rendered
  es: null,
  reconnected: false,
  timer: null, // a view's refresh timer
};

const main = () => document.getElementById('main');

// ---------------------------------------------------------------- routing

// The hash is #/ACCOUNT/REGION/section/...[?query].
function parseHash() {
  const [p, q] = location.hash.replace(/^#\/?/, '').split('?');
  const parts = p.split('/').filter(Boolean).map(decodeURIComponent);
  return { account: parts[0], region: parts[1], section: parts[2] || 'namespaces', rest: parts.slice(3),
    query: new URLSearchParams(q || '') };
}

function link(...segments) {
  return '#/' + [state.account, state.region, ...segments].map(encodeURIComponent).join('/');
}

function scope() {
  return { account: state.account, region: state.region };
}

const VIEWS = {
  namespaces: (r) => (r.rest[0] ? namespaceView(r.rest[0]) : namespacesView()),
  services: (r) => serviceView(r.rest[0]),
  operations: (r) => operationsView(r.query.get('before') || ''),
  meshes: (r) => (!r.rest[0] ? meshesView() : r.rest[1] === 'graph' ? graphView(r.rest[0]) : meshView(r.rest[0])),
  xds: () => xdsView(),
};

function route() {
  const r = parseHash();
  const first = state.accounts[0] || { account: state.caller.account, regions: [state.caller.region] };
  let account = r.account || state.caller.account || first.account;
  if (state.auth === 'sigv4') account = state.caller.account;
  const region = r.region || state.caller.region || first.regions[0];
  if (account !== r.account || region !== r.region || !VIEWS[r.section]) {
    state.account = account;
    state.region = region;
    location.replace(link(VIEWS[r.section] ? r.section : 'namespaces', ...r.rest));
    return;
  }
  state.account = account;
  state.region = region;
  state.view = VIEWS[r.section](r);
  renderChrome(r.section);
  refresh();
}

// refresh loads the current view and renders it, unless a newer load
// started meanwhile.
async function refresh() {
  const view = state.view;
  const seq = ++state.seq;
  clearTimeout(state.timer);
  try {
    const data = await view.load();
    if (seq !== state.seq) return;
    main().replaceChildren(view.render(data));
  } catch (e) {
    if (seq !== state.seq) return;
    if (e.isAuth) {
      showLogin(e.message);
      return;
    }
    main().replaceChildren(h('p', { class: 'error' }, `${e.code || 'Error'}: ${e.message}`));
  }
}

// ---------------------------------------------------------------- chrome

function renderChrome(section) {
  const accounts = state.accounts.length ? state.accounts : [{ account: state.account, regions: [state.region] }];
  const acct = accounts.find((a) => a.account === state.account) || { account: state.account, regions: [] };
  const regions = acct.regions.includes(state.region) ? acct.regions : [...acct.regions, state.region];
  const select = (id, values, current, onchange) => h('select', { id, onchange },
    values.map((v) => h('option', { value: v, selected: v === current }, v)));
  const go = (account, region) => {
    state.account = account;
    state.region = region;
    location.hash = link(section === 'services' ? 'namespaces' : section);
  };
  const nav = [['namespaces', 'Cloud Map'], ['operations', 'Operations'], ['meshes', 'App Mesh']];
  if (state.xds) nav.push(['xds', 'xDS clients']);
  document.getElementById('chrome').replaceChildren(
    h('nav', {}, nav.map(([s, label]) => h('a', { href: link(s), class: s === section ? 'active' : null }, label))),
    h('div', { class: 'scope' },
      h('label', {}, 'account ', state.auth === 'sigv4'
        ? h('span', { id: 'account', class: 'fixed' }, state.account)
        : select('account', accounts.map((a) => a.account), state.account, (e) => {
          const a = accounts.find((x) => x.account === e.target.value);
          go(a.account, a.regions.includes(state.region) ? state.region : a.regions[0]);
        })),
      h('label', {}, ' region ', select('region', regions, state.region, (e) => go(state.account, e.target.value))),
      h('span', { id: 'live', class: state.es && state.es.readyState === 1 ? 'on' : 'off' },
        state.es && state.es.readyState === 1 ? 'live' : 'offline'),
      state.auth === 'sigv4' ? h('button', { id: 'logout', onclick: logout }, 'sign out') : null));
}

function setLive(on) {
  const el = document.getElementById('live');
  if (!el) return;
  el.className = on ? 'on' : 'off';
  el.textContent = on ? 'live' : 'reconnecting';
}

// ---------------------------------------------------------------- events

async function connectEvents() {
  if (state.es) state.es.close();
  let url;
  try {
    url = await api.eventsURL();
  } catch (e) {
    setLive(false);
    return;
  }
  const es = new EventSource(url);
  state.es = es;
  es.addEventListener('hello', () => {
    setLive(true);
    if (state.reconnected) refresh(); // changes may have been missed
    state.reconnected = false;
  });
  es.addEventListener('changed', (e) => onChanged(JSON.parse(e.data)));
  es.onerror = () => {
    // Reconnect with a freshly signed URL (a presigned one expires).
    es.close();
    if (state.es !== es) return;
    state.es = null;
    state.reconnected = true;
    setLive(false);
    setTimeout(connectEvents, 2000);
  };
}

function onChanged(ev) {
  const known = (c) => state.accounts.some((a) => a.account === c.account && a.regions.includes(c.region));
  if (ev.reload || [...(ev.cloudmap || []), ...(ev.appmesh || [])].some((c) => !known(c))) {
    loadAccounts().then(() => renderChrome(parseHash().section));
  }
  const here = (c) => c.account === state.account && c.region === state.region;
  const change = { reload: !!ev.reload, cloudmap: (ev.cloudmap || []).filter(here), appmesh: (ev.appmesh || []).filter(here) };
  if (state.view && (change.reload || state.view.concerns(change))) refresh();
}

// ---------------------------------------------------------------- views

function namespacesView() {
  return {
    load: () => api.get(api.path('namespaces'), scope()),
    concerns: (c) => c.cloudmap.length > 0,
    render: ({ namespaces }) => h('section', {},
      h('h1', {}, 'Cloud Map namespaces'),
      table(['name', 'id', 'type', 'HTTP name', 'services'], namespaces.map((ns) => h('tr', { 'data-namespace': ns.id },
        h('td', {}, h('a', { href: link('namespaces', ns.id) }, ns.name)), h('td', { class: 'id' }, ns.id),
        h('td', {}, ns.type), h('td', {}, ns.httpName), h('td', { class: 'num' }, ns.services))))),
  };
}

function namespaceView(id) {
  return {
    load: () => api.get(api.path('namespaces', id), scope()),
    concerns: (c) => c.cloudmap.some((x) => x.namespaceId === id),
    render: ({ namespace: ns, services }) => h('section', {},
      h('p', { class: 'crumbs' }, h('a', { href: link('namespaces') }, 'namespaces'), ' / ', ns.name),
      h('h1', {}, ns.name, ' ', h('small', {}, ns.type)),
      h('p', { class: 'meta' }, `${ns.id} · created ${time(ns.createDate)}`, ns.vpc ? ` · ${ns.vpc}` : ''),
      table(['service', 'id', 'health check', 'instances', 'healthy', 'unhealthy', 'unknown'],
        services.map((s) => h('tr', { 'data-service': s.id },
          h('td', {}, h('a', { href: link('services', s.id) }, s.name)), h('td', { class: 'id' }, s.id),
          h('td', {}, checkOf(s)), h('td', { class: 'num' }, s.instances),
          h('td', { class: 'num' }, s.health.HEALTHY || 0), h('td', { class: 'num bad' }, s.health.UNHEALTHY || ''),
          h('td', { class: 'num' }, s.health.UNKNOWN || 0))))),
  };
}

function checkOf(s) {
  if (s.healthCheck) return `${s.healthCheck.type} ${s.healthCheck.resourcePath || ''}`.trim();
  return s.customHealth ? 'custom' : 'none';
}

function serviceView(id) {
  return {
    load: () => api.get(api.path('services', id), scope()),
    concerns: (c) => c.cloudmap.some((x) => x.serviceId === id),
    render: ({ service: s }) => {
      // A delayed custom health status takes effect without a change.
      const next = Math.min(...s.list.map((i) => i.healthChangesAt || Infinity));
      if (next !== Infinity) state.timer = setTimeout(refresh, Math.max(0, next - Date.now()) + 50);
      return h('section', {},
        h('p', { class: 'crumbs' }, h('a', { href: link('namespaces') }, 'namespaces'), ' / ',
          h('a', { href: link('namespaces', s.namespaceId) }, s.namespaceName || s.namespaceId), ' / ', s.name),
        h('h1', {}, s.name, ' ', h('small', {}, s.type)),
        h('p', { class: 'meta' }, `${s.id} · health check: ${checkOf(s)} · routing: ${s.routingPolicy || '-'}`,
          ` · instances revision ${s.instancesRevision}`),
        table(['instance', 'address', 'attributes', 'health'], s.list.map((i) => h('tr',
          { class: 'instance', 'data-instance': i.id, 'data-health': i.health },
          h('td', { class: 'id' }, i.id), h('td', { class: 'addr' }, i.address || ''),
          h('td', {}, Object.entries(i.attributes).sort().map(([k, v]) => h('span', { class: 'attr' }, `${k}=${v}`))),
          h('td', {}, health(i.health, i.reason), i.health === 'UNHEALTHY' && i.reason
            ? h('div', { class: 'reason' }, i.reason) : null))), { id: 'instances' }));
    },
  };
}

function operationsView(before) {
  return {
    load: () => api.get(api.path('operations'), { ...scope(), before }),
    concerns: (c) => !before && c.cloudmap.length > 0,
    render: ({ operations, next }) => h('section', {},
      h('h1', {}, 'Operations ', h('small', {}, 'newest first')),
      table(['created', 'type', 'status', 'targets', 'id'], operations.map((o) => h('tr', { 'data-operation': o.id },
        h('td', {}, time(o.createDate)), h('td', {}, o.type),
        h('td', { class: 'status ' + o.status.toLowerCase(), title: o.errorMessage || null },
          o.status, o.errorCode ? ` (${o.errorCode})` : ''),
        h('td', {}, Object.entries(o.targets || {}).map(([k, v]) => h('span', { class: 'attr' }, `${k}=${v}`))),
        h('td', { class: 'id' }, o.id)))),
      h('p', { class: 'pager' },
        before ? h('a', { href: link('operations') }, '« newest') : null, ' ',
        next ? h('a', { href: link('operations') + '?before=' + encodeURIComponent(next), id: 'older' }, 'older »') : null)),
  };
}

function meshesView() {
  return {
    load: () => api.get(api.path('meshes'), scope()),
    concerns: (c) => c.appmesh.length > 0,
    render: ({ meshes }) => h('section', {},
      h('h1', {}, 'App Mesh meshes'),
      table(['mesh', 'egress', 'virtual services', 'routers', 'routes', 'nodes', 'gateways', 'gateway routes', ''],
        meshes.map((m) => h('tr', { 'data-mesh': m.name },
          h('td', {}, h('a', { href: link('meshes', m.name) }, m.name)), h('td', {}, m.egressFilter),
          ['virtualServices', 'virtualRouters', 'routes', 'virtualNodes', 'virtualGateways', 'gatewayRoutes']
            .map((k) => h('td', { class: 'num' }, m.counts[k])),
          h('td', {}, h('a', { href: link('meshes', m.name, 'graph') }, 'graph')))))),
  };
}

function targetsOf(spec) {
  const r = spec.httpRoute || spec.http2Route || spec.grpcRoute || spec.tcpRoute;
  return (r && r.action && r.action.weightedTargets) || [];
}

function protocolOf(spec) {
  return ['httpRoute', 'http2Route', 'grpcRoute', 'tcpRoute'].find((k) => spec[k])?.replace('Route', '') || '';
}

function listeners(spec) {
  return (spec.listeners || []).map((l) => l.portMapping && `${l.portMapping.protocol}:${l.portMapping.port}`).join(' ');
}

function discoveryOf(spec) {
  const sd = spec.serviceDiscovery || {};
  if (sd.awsCloudMap) {
    const attrs = (sd.awsCloudMap.attributes || []).map((a) => `${a.key}=${a.value}`).join(' ');
    return `Cloud Map ${sd.awsCloudMap.serviceName}.${sd.awsCloudMap.namespaceName} ${attrs}`.trim();
  }
  return sd.dns ? `DNS ${sd.dns.hostname}` : '';
}

function meshView(name) {
  const section = (title, rows, headers) => [h('h2', {}, title), table([...headers, 'version', ''], rows)];
  const row = (r, ...cells) => h('tr', { 'data-resource': `${r.kind}/${r.parent ? r.parent + '/' : ''}${r.name}` },
    cells.map((c) => h('td', {}, c)), h('td', { class: 'num' }, r.version), h('td', {}, spec(r.spec)));
  return {
    load: () => api.get(api.path('meshes', name), scope()),
    concerns: (c) => c.appmesh.some((x) => x.mesh === name),
    render: (m) => h('section', {},
      h('p', { class: 'crumbs' }, h('a', { href: link('meshes') }, 'meshes'), ' / ', name),
      h('h1', {}, name, ' ', h('a', { href: link('meshes', name, 'graph'), class: 'button' }, 'graph')),
      h('p', { class: 'meta' }, m.mesh.arn), spec(m.mesh.spec),
      section('Virtual services', m.virtualServices.map((r) => {
        const p = r.spec.provider || {};
        return row(r, r.name, p.virtualRouter ? `router ${p.virtualRouter.virtualRouterName}`
          : p.virtualNode ? `node ${p.virtualNode.virtualNodeName}` : 'no provider');
      }), ['name', 'provider']),
      section('Virtual routers', m.virtualRouters.map((r) => row(r, r.name, listeners(r.spec))), ['name', 'listeners']),
      section('Routes', m.routes.map((r) => row(r, r.parent, r.name, protocolOf(r.spec),
        targetsOf(r.spec).map((t) => h('span', { class: 'attr weight' }, `${t.virtualNode} ${t.weight}`)))),
      ['router', 'name', 'protocol', 'weighted targets']),
      section('Virtual nodes', m.virtualNodes.map((r) => row(r, r.name, listeners(r.spec), discoveryOf(r.spec),
        (r.spec.backends || []).map((b) => b.virtualService && b.virtualService.virtualServiceName).join(' '))),
      ['name', 'listeners', 'service discovery', 'backends']),
      section('Virtual gateways', m.virtualGateways.map((r) => row(r, r.name, listeners(r.spec))), ['name', 'listeners']),
      section('Gateway routes', m.gatewayRoutes.map((r) => {
        const g = r.spec.httpRoute || r.spec.http2Route || r.spec.grpcRoute || {};
        const vs = g.action && g.action.target && g.action.target.virtualService;
        return row(r, r.parent, r.name, vs ? vs.virtualServiceName : '');
      }), ['gateway', 'name', 'target'])),
  };
}

function graphView(name) {
  return {
    load: () => api.get(api.path('meshes', name, 'graph'), scope()),
    // Endpoints follow Cloud Map: any change in the region may move them.
    concerns: (c) => c.appmesh.some((x) => x.mesh === name) || c.cloudmap.length > 0,
    render: (g) => h('section', {},
      h('p', { class: 'crumbs' }, h('a', { href: link('meshes') }, 'meshes'), ' / ',
        h('a', { href: link('meshes', name) }, name), ' / graph'),
      h('h1', {}, name, ' ', h('small', {}, 'traffic, left to right')),
      h('div', { class: 'graph' }, renderGraph(g)),
      h('p', { class: 'legend' }, 'Edges from routes carry the target weight and its share. ',
        'Endpoints are the Cloud Map instances matching the node\'s attributes; ',
        h('span', { class: 'health unhealthy' }, 'excluded'), ' ones are not sent to Envoy.')),
  };
}

function xdsView() {
  const types = ['listeners', 'routes', 'clusters', 'endpoints'];
  const view = {
    load: () => api.get(api.path('xds', 'clients'), scope()),
    concerns: () => false, // polled: the xDS server has no change feed
    render: ({ enabled, clients }) => {
      state.timer = setTimeout(() => state.view === view && refresh(), 2000);
      if (!enabled) return h('p', {}, 'xDS is off (--xds-addr is empty).');
      return h('section', {},
        h('h1', {}, 'xDS clients ', h('small', {}, `${clients.length} connected`)),
        table(['node id', 'snapshot', 'peer', ...types.map((t) => `${t} sent / ACKed`), 'last NACK'],
          clients.map((c) => {
            const nacks = types.map((t) => c.resources[t] && c.resources[t].lastNack && [t, c.resources[t].lastNack])
              .filter(Boolean);
            return h('tr', { 'data-client': c.nodeId },
              h('td', {}, c.nodeId, c.proxyless ? h('span', { class: 'attr' }, 'proxyless') : null),
              h('td', { class: 'id' }, c.key), h('td', { class: 'id' }, c.peer || ''),
              types.map((t) => {
                const r = c.resources[t] || {};
                const behind = r.sent && r.sent !== r.acked;
                return h('td', { class: behind ? 'behind' : null }, `${r.sent || '-'} / ${r.acked || '-'}`);
              }),
              h('td', { class: nacks.length ? 'bad' : null }, nacks.map(([t, n]) =>
                h('div', {}, `${t} v${n.version}: ${n.message}`))));
          })));
    },
  };
  return view;
}

// ---------------------------------------------------------------- sign-in

function showLogin(message) {
  const last = api.credentials() || {}; // a refused attempt: keep what can be kept
  api.clearCredentials();
  if (state.es) state.es.close();
  state.es = null;
  document.getElementById('chrome').replaceChildren();
  const err = message ? h('p', { class: 'error', id: 'login-error' }, message) : null;
  const form = h('form', { id: 'login', class: 'login' },
    h('h1', {}, 'Sign in'),
    h('p', {}, 'This mapmesh verifies every request (--auth sigv4). Enter an identity of its credentials file: ',
      'requests are signed in this tab, and the keys are kept for this tab only (sessionStorage).'),
    err,
    h('label', {}, 'Access key ID', h('input', { name: 'accessKeyId', autocomplete: 'username', required: true,
      value: last.accessKeyId || '' })),
    h('label', {}, 'Secret access key', h('input', { name: 'secretAccessKey', type: 'password',
      autocomplete: 'current-password', required: true })),
    h('label', {}, 'Region', h('input', { name: 'region', value: last.region || 'us-east-1', required: true })),
    h('button', { type: 'submit' }, 'Sign in'));
  form.addEventListener('submit', (e) => {
    e.preventDefault();
    const f = new FormData(form);
    api.setCredentials({ accessKeyId: f.get('accessKeyId').trim(), secretAccessKey: f.get('secretAccessKey'),
      region: f.get('region').trim() });
    start();
  });
  main().replaceChildren(form);
}

function logout() {
  api.clearCredentials();
  location.hash = '';
  location.reload();
}

// ---------------------------------------------------------------- start

async function loadAccounts() {
  const a = await api.get(api.path('accounts'));
  Object.assign(state, { auth: a.auth, caller: a.caller, accounts: a.accounts, xds: a.xds });
}

async function start() {
  try {
    await loadAccounts();
  } catch (e) {
    if (e.isAuth) showLogin(api.credentials() ? `Sign-in refused: ${e.message}` : '');
    else main().replaceChildren(h('p', { class: 'error' }, `${e.code}: ${e.message}`));
    return;
  }
  if (!state.started) {
    state.started = true;
    window.addEventListener('hashchange', route);
  }
  route();
  connectEvents();
}

start();
