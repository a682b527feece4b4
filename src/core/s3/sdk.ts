type ClientS3 = typeof import('@aws-sdk/client-s3');

/**
 * The SDK's modules, loaded on first use: modules on the path of a tree of small files (upload,
 * download, objects, sync, list) reach the SDK only through these, so that path starts without it.
 * The SDK is CommonJS; imported from a bundle its exports sit on `default`, imported by Node directly
 * on the namespace too. Either way the exports object is what is handed back.
 */
export const sdk = (): Promise<ClientS3> => import('@aws-sdk/client-s3').then(commonJsExports<ClientS3>);

/** A CommonJS package's exports, however it was imported (from the bundle: on `default`). */
export function commonJsExports<T>(namespace: unknown): T {
  const record = namespace as { default?: unknown };
  return (record.default && typeof record.default === 'object' ? record.default : namespace) as T;
}
