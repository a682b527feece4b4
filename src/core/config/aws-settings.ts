/**
 * The shared config files and the endpoint variables, read by the SDK's own loaders: the module
 * config.ts loads once a command resolves its settings. Named imports only, so the bundle carries
 * these loaders and not the rest of `@smithy/core` (start-up of a short command, see the README).
 * It is bundled on its own (scripts/bundle.ts), so it imports nothing of datalake's: a class shared
 * with the main bundle would be two classes, and `instanceof` would tell them apart.
 */
import {
  getProfileName,
  loadConfig,
  loadSharedConfigFiles,
  NODE_REGION_CONFIG_FILE_OPTIONS,
  NODE_REGION_CONFIG_OPTIONS,
  NODE_USE_DUALSTACK_ENDPOINT_CONFIG_OPTIONS,
  NODE_USE_FIPS_ENDPOINT_CONFIG_OPTIONS,
} from '@smithy/core/config';
import { resolveEndpointConfig } from '@smithy/core/endpoints';

/** What the environment (endpoint only) and the shared config files say, by the SDK's own rules. */
export interface SharedConfig {
  region: string | undefined;
  /** `AWS_ENDPOINT_URL_S3`, `AWS_ENDPOINT_URL`, the profile's `services` section, its `endpoint_url`; none under `AWS_IGNORE_CONFIGURED_ENDPOINT_URLS`. */
  endpoint: string | undefined;
  /** Where the endpoint came from, for the message when it is malformed. */
  endpointSource: string;
  /** The profile's `s3 = addressing_style`, unchecked. */
  addressingStyle: string | undefined;
  /** `AWS_USE_FIPS_ENDPOINT`, else the profile's `use_fips_endpoint`, as the SDK reads them. */
  useFipsEndpoint: boolean;
  /** `AWS_USE_DUALSTACK_ENDPOINT`, else the profile's `use_dualstack_endpoint` (the SDK's rule) or its `s3 = use_dualstack_endpoint` (the CLI's). */
  useDualstackEndpoint: boolean;
  /** The profile's `s3 = use_accelerate_endpoint` (read by the AWS CLI; the JavaScript SDK has no loader for it), unchecked. */
  useAccelerateEndpoint: string | undefined;
  /** The profile's `s3 = use_dualstack_endpoint`, unchecked. */
  s3UseDualstackEndpoint: string | undefined;
  /** The profile read: `AWS_PROFILE`, else `default`. */
  profile: string;
  /** `AWS_CA_BUNDLE`, else the profile's `ca_bundle`: a PEM file of the certificates to trust, and where it was named. */
  caBundle: { path: string; source: string } | undefined;
}

export async function fromSharedConfig(env: NodeJS.ProcessEnv): Promise<SharedConfig> {
  // The SDK's region loader: the profile's `region` (the credentials file first, as the SDK reads it).
  // The environment is read by the caller (the CLI also reads AWS_DEFAULT_REGION), and the SDK's own
  // default asks the EC2 instance metadata service, which a CLI on a laptop must not wait for.
  const region = await loadConfig<string | undefined>(
    { environmentVariableSelector: () => undefined, configFileSelector: NODE_REGION_CONFIG_OPTIONS.configFileSelector, default: undefined },
    NODE_REGION_CONFIG_FILE_OPTIONS,
  )();
  // The SDK's configured-endpoint resolution for the service `S3`, exactly as an S3Client runs it.
  const configured = resolveEndpointConfig({ serviceId: 'S3' } as never) as unknown as { serviceConfiguredEndpoint(): Promise<string | undefined> };
  const endpoint = await configured.serviceConfiguredEndpoint();
  // The SDK for JavaScript does not read the profile's `s3` sub-section (addressing_style,
  // use_accelerate_endpoint, use_dualstack_endpoint; the AWS CLI does): taken from the parsed profile,
  // where the SDK's loader flattens it to `s3.name`.
  const profile = getProfileName({});
  const { configFile } = await loadSharedConfigFiles();
  const profileSettings = configFile[profile] ?? {};
  // Neither is read by the SDK for JavaScript (the AWS CLI and boto3 read both).
  const caBundlePath = env.AWS_CA_BUNDLE || profileSettings.ca_bundle;
  const caBundle = caBundlePath ? { path: caBundlePath, source: env.AWS_CA_BUNDLE ? 'AWS_CA_BUNDLE' : `profile '${profile}'` } : undefined;
  // FIPS and dual-stack by the SDK's own loaders (environment, then profile); a value other than
  // true/false throws the SDK's message, which the caller turns into a usage error.
  const useFipsEndpoint = await loadConfig<boolean>(NODE_USE_FIPS_ENDPOINT_CONFIG_OPTIONS)();
  const useDualstackEndpoint = await loadConfig<boolean>(NODE_USE_DUALSTACK_ENDPOINT_CONFIG_OPTIONS)();
  const endpointSource = env.AWS_ENDPOINT_URL_S3 ? 'AWS_ENDPOINT_URL_S3' : env.AWS_ENDPOINT_URL ? 'AWS_ENDPOINT_URL' : `profile '${profile}'`;
  return {
    region: region || undefined,
    endpoint: endpoint || undefined,
    endpointSource,
    addressingStyle: profileSettings['s3.addressing_style'],
    useFipsEndpoint,
    useDualstackEndpoint,
    useAccelerateEndpoint: profileSettings['s3.use_accelerate_endpoint'],
    s3UseDualstackEndpoint: profileSettings['s3.use_dualstack_endpoint'],
    profile,
    caBundle,
  };
}
