// The console API client: GETs under /console/api/, signed with the
// credentials of the session when there are some (mapmesh --auth sigv4).

import { presign, queryString, sign, uriEncode } from './sigv4.js';

const KEY = 'mapmesh-console-credentials';

// credentials returns {accessKeyId, secretAccessKey, region} from
// sessionStorage (gone when the tab closes), or null.
export function credentials() {
  try {
    const c = JSON.parse(sessionStorage.getItem(KEY));
    return c && c.accessKeyId && c.secretAccessKey && c.region ? c : null;
  } catch {
    return null;
  }
}

export function setCredentials(c) {
  sessionStorage.setItem(KEY, JSON.stringify(c));
}

export function clearCredentials() {
  sessionStorage.removeItem(KEY);
}

// Codes of refused signatures (docs/security.md): the console then asks
// for credentials.
const AUTH_CODES = new Set(['MissingAuthenticationTokenException', 'IncompleteSignatureException',
  'UnrecognizedClientException', 'InvalidSignatureException']);

export class APIError extends Error {
  constructor(status, code, message) {
    super(message);
    this.status = status;
    this.code = code;
  }

  get isAuth() {
    return this.status === 403 && AUTH_CODES.has(this.code);
  }
}

// path joins URI-encoded segments: path('meshes', name, 'graph').
export function path(...segments) {
  return '/console/api/' + segments.map((s) => uriEncode(String(s))).join('/');
}

function pairs(params) {
  return Object.entries(params)
    .filter(([, v]) => v !== undefined && v !== null && v !== '')
    .map(([k, v]) => [k, String(v)]);
}

// get fetches a console API path with query params and returns its JSON,
// or throws an APIError.
export async function get(p, params = {}) {
  const creds = credentials();
  const query = pairs(params);
  let url = p;
  let headers = {};
  if (creds) {
    ({ url, headers } = await sign({ path: p, params: query, host: location.host, creds, region: creds.region }));
  } else if (query.length) {
    url = p + '?' + queryString(query);
  }
  const res = await fetch(url, { headers, cache: 'no-store' });
  const text = await res.text();
  let body = {};
  try {
    body = JSON.parse(text);
  } catch {
    // not JSON: keep the text for the message
  }
  if (!res.ok) {
    throw new APIError(res.status, body.code || res.headers.get('x-amzn-ErrorType') || 'HTTP' + res.status,
      body.message || text || res.statusText);
  }
  return body;
}

// eventsURL returns the URL of the events stream, presigned when the
// session has credentials.
export async function eventsURL() {
  const p = '/console/api/events';
  const creds = credentials();
  if (!creds) return p;
  return presign({ path: p, host: location.host, creds, region: creds.region, expires: 60 });
}
