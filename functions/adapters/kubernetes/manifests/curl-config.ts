/**
 * The upload grants as curl config files (what the report step and the upload sidecar pass to
 * `curl -K`): each value in the config file's double quotes, backslash and quote escaped, and a
 * value that would span lines refused, so no URL or policy field can add an option of its own.
 */

/** One curl config line: `name = "value"` with the config file's quoting. */
function curlLine(name: string, value: string): string {
  if (/[\r\n\0]/.test(value)) throw new Error(`curl config value for ${name} spans lines`);
  return `${name} = "${value.replace(/\\/g, '\\\\').replace(/"/g, '\\"')}"\n`;
}

/** curl config for an upload with a presigned PUT URL. */
export function curlPutConfig(url: string): string {
  return curlLine('url', url);
}

/** curl config for a presigned POST: the URL and every policy field, before the caller's key and file. */
export function curlPostConfig(url: string, fields: Record<string, string>): string {
  return curlLine('url', url) + Object.entries(fields).map(([k, v]) => curlLine('form-string', `${k}=${v}`)).join('');
}
