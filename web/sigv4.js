// AWS Signature Version 4 in the browser, with WebCrypto: header
// signatures for fetch, presigned URLs for EventSource (which cannot set
// headers). It signs what mapmesh verifies (internal/awsapi/sigv4.go): the
// path URI-encoded once more, as AWS does for every service but S3; the
// query sorted; the signed headers; the SHA-256 of the body.

const enc = new TextEncoder();
const ALGORITHM = 'AWS4-HMAC-SHA256';

// uriEncode percent-encodes every byte of s's UTF-8 but the unreserved
// characters (A-Z a-z 0-9 - . _ ~), and '/' too unless keepSlash.
export function uriEncode(s, keepSlash = false) {
  let out = '';
  for (const b of enc.encode(s)) {
    const c = String.fromCharCode(b);
    if (/[A-Za-z0-9\-._~]/.test(c) || (keepSlash && c === '/')) out += c;
    else out += '%' + b.toString(16).toUpperCase().padStart(2, '0');
  }
  return out;
}

// queryString encodes [name, value] pairs, sorted, as the canonical query
// (and the URL's query: sending exactly what is signed leaves no doubt).
export function queryString(params) {
  return params
    .map(([k, v]) => [uriEncode(k), uriEncode(v)])
    .sort(([a, x], [b, y]) => (a < b ? -1 : a > b ? 1 : x < y ? -1 : x > y ? 1 : 0))
    .map(([k, v]) => k + '=' + v)
    .join('&');
}

function hex(buf) {
  return Array.from(new Uint8Array(buf), (b) => b.toString(16).padStart(2, '0')).join('');
}

async function sha256(s) {
  return hex(await crypto.subtle.digest('SHA-256', enc.encode(s)));
}

async function hmac(key, s) {
  const k = await crypto.subtle.importKey('raw', typeof key === 'string' ? enc.encode(key) : key,
    { name: 'HMAC', hash: 'SHA-256' }, false, ['sign']);
  return crypto.subtle.sign('HMAC', k, enc.encode(s));
}

// amzDate returns the X-Amz-Date form of d: 20060102T150405Z.
export function amzDate(d) {
  return d.toISOString().replace(/[-:]/g, '').replace(/\.\d{3}/, '');
}

function available() {
  if (!globalThis.crypto || !crypto.subtle) {
    throw new Error('this page cannot sign requests: browsers offer WebCrypto only to https:// pages and to localhost; serve mapmesh with --tls-cert');
  }
}

async function signature({ method, path, query, headers, body, creds, region, service, date }) {
  const names = Object.keys(headers).map((h) => h.toLowerCase()).sort();
  const lower = Object.fromEntries(Object.entries(headers).map(([k, v]) => [k.toLowerCase(), String(v).trim()]));
  const canonical = [
    method,
    uriEncode(path, true),
    query,
    names.map((h) => h + ':' + lower[h] + '\n').join(''),
    names.join(';'),
    await sha256(body),
  ].join('\n');
  const day = date.slice(0, 8);
  const scope = `${day}/${region}/${service}/aws4_request`;
  const toSign = [ALGORITHM, date, scope, await sha256(canonical)].join('\n');
  let key = await hmac('AWS4' + creds.secretAccessKey, day);
  for (const part of [region, service, 'aws4_request']) key = await hmac(key, part);
  return { signature: hex(await hmac(key, toSign)), scope, signedHeaders: names.join(';') };
}

// sign returns the URL (path and sorted query) and the headers of a
// request signed in the Authorization header. path is as sent (segments
// already URI-encoded); params are [name, value] pairs; host is the Host
// the browser sends (location.host).
export async function sign({ method = 'GET', path, params = [], host, body = '', creds, region,
  service = 'mapmesh', now = new Date() }) {
  available();
  const date = amzDate(now);
  const query = queryString(params);
  const { signature: sig, scope, signedHeaders } = await signature({ method, path, query,
    headers: { host, 'x-amz-date': date }, body, creds, region, service, date });
  return {
    url: query ? path + '?' + query : path,
    headers: {
      'X-Amz-Date': date,
      Authorization: `${ALGORITHM} Credential=${creds.accessKeyId}/${scope}, SignedHeaders=${signedHeaders}, Signature=${sig}`,
    },
  };
}

// presign returns a URL signed in its query string, valid for expires
// seconds from now (the server checks it when the request arrives).
export async function presign({ method = 'GET', path, params = [], host, creds, region, service = 'mapmesh',
  expires = 300, now = new Date() }) {
  available();
  const date = amzDate(now);
  const scope = `${date.slice(0, 8)}/${region}/${service}/aws4_request`;
  const all = [...params,
    ['X-Amz-Algorithm', ALGORITHM],
    ['X-Amz-Credential', `${creds.accessKeyId}/${scope}`],
    ['X-Amz-Date', date],
    ['X-Amz-Expires', String(expires)],
    ['X-Amz-SignedHeaders', 'host']];
  const query = queryString(all);
  const { signature: sig } = await signature({ method, path, query, headers: { host }, body: '', creds, region,
    service, date });
  return path + '?' + query + '&X-Amz-Signature=' + sig;
}
