// Small DOM helpers: build elements from data, never from HTML strings.

const SVG = 'http://www.w3.org/2000/svg';

function build(el, attrs, children) {
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k.startsWith('on')) el.addEventListener(k.slice(2), v);
    else el.setAttribute(k, v === true ? '' : String(v));
  }
  for (const c of children.flat(Infinity)) {
    if (c === undefined || c === null || c === false) continue;
    el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return el;
}

// h('a', {href: '#/x'}, 'text', child, [more]) makes an HTML element.
export function h(tag, attrs, ...children) {
  return build(document.createElement(tag), attrs, children);
}

// s makes an SVG element.
export function s(tag, attrs, ...children) {
  return build(document.createElementNS(SVG, tag), attrs, children);
}

export function time(ms) {
  if (!ms) return '';
  return new Date(ms).toLocaleString();
}

// health renders a health status as a badge.
export function health(status, reason) {
  return h('span', { class: 'health ' + (status || 'UNKNOWN').toLowerCase(), title: reason || null }, status || 'UNKNOWN');
}

export function table(headers, rows, attrs = {}) {
  return h('table', attrs,
    h('thead', {}, h('tr', {}, headers.map((t) => h('th', {}, t)))),
    h('tbody', {}, rows.length ? rows : h('tr', {}, h('td', { colspan: headers.length, class: 'empty' }, 'none'))));
}

// spec renders a resource spec as collapsible JSON.
export function spec(v) {
  return h('details', { class: 'spec' }, h('summary', {}, 'spec'), h('pre', {}, JSON.stringify(v, null, 2)));
}
