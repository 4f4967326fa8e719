/**
 * Which versions answer: `version` is Amun's (package.json, config.serviceVersion); `service_version`
 * adds the store layout, as SemVer build metadata, the shape the original used for its own parts
 * (`0.6.0+storage.0.22.0.common.0.10.0`): `1.0.0+store-layout.1`. GET /api/v1/version, the health
 * answers, `amun_api_info` and the `X-Amun-Version` header on every answer carry it.
 */

/**
 * The store layout's version (core/layout.ts): 1 is the original's keys (build/specification,
 * build/Dockerfile, build/log, results/<n>/{hwinfo,log,result}) with ours beside them. A change
 * that moves or reshapes an object a reader of an earlier layout reads raises it.
 */
export const STORE_LAYOUT_VERSION = 1;

export function serviceVersionOf(version: string): string {
  return `${version}+store-layout.${STORE_LAYOUT_VERSION}`;
}
