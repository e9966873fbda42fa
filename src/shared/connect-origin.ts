// The one origin the teacher worker may reach besides its own (README,
// "Hosting"): the page opens the worker's script with ?connect=<origin>, and
// the server answers that script with `connect-src 'self' <origin>`. Both
// sides read the origin here, so only a plain http(s) origin ever reaches a
// policy: no path, no wildcard, no quote, no second source, no other scheme.

/** The query parameter that carries the origin. */
export const CONNECT_PARAM = 'connect';

/** `http(s)://host[:port]` of `url`, or an Error naming what is wrong. */
export function connectOrigin(url: string): string | Error {
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    return new Error(`"${url}" is not a URL (expected e.g. http://127.0.0.1:11434/v1)`);
  }
  if (u.protocol !== 'http:' && u.protocol !== 'https:') return new Error(`"${url}": only http:// and https:// endpoints can be used`);
  if (u.username || u.password) return new Error(`"${url}": put the API key in its own field, not in the URL`);
  // URL has already lower-cased the host and dropped a default port; what
  // is left is letters, digits, dots, dashes, [ipv6] and :port
  if (!/^https?:\/\/(\[[0-9a-f:.]+\]|[a-z0-9.-]+)(:\d{1,5})?$/.test(u.origin))
    return new Error(`"${url}": the host is not one a policy can name`);
  return u.origin;
}

/** The origin that a worker script's query asks for, if it is a valid one
 * (anything else: undefined, and the script keeps the page's policy). */
export function connectFromQuery(search: string): string | undefined {
  const raw = new URLSearchParams(search).get(CONNECT_PARAM);
  if (raw === null) return undefined;
  const o = connectOrigin(raw);
  return typeof o === 'string' && o === raw ? o : undefined;
}
