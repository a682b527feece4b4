/**
 * What a put takes and gives back: how an object is stored, everything but its bytes (`PutOptions`);
 * the fields and headers that say it on a PUT or a CreateMultipartUpload, and the checksum and
 * condition headers of a write; what an upload reports (`UploadedObject`). Shared by every upload
 * path (single-put, multipart-upload, multipart-file, upload-stream, metadata-rewrite).
 */
import { MD5_METADATA_KEY, md5ToMetadata } from '../integrity/checksums.js';
import type { WriteAnswer } from './upload-proof.js';

export type ServerSideEncryption = 'AES256' | 'aws:kms';

/** How an object is stored: everything but its bytes. */
export interface PutOptions {
  contentType?: string | undefined;
  metadata?: Record<string, string>;
  tags?: Record<string, string>;
  storageClass?: string | undefined;
  sse?: ServerSideEncryption | undefined;
  sseKmsKeyId?: string | undefined;
  /**
   * Write only where no object is (`If-None-Match: *` on the PUT and on CompleteMultipartUpload): a
   * writer that got there first is never overwritten, and the upload fails with PreconditionFailed.
   */
  ifNoneMatch?: boolean;
  /**
   * Keep the whole-content MD5 in metadata (md5chksum) on multipart uploads too, for `rclone check`:
   * the file is then read once ahead of the parts. Single PUTs always carry it.
   */
  md5Metadata?: boolean | undefined;
}

/** The fields of a PUT or CreateMultipartUpload that say how the object is stored. */
export function storageFields(options: PutOptions, md5Hex?: string) {
  const metadata = { ...(options.metadata ?? {}) };
  if (md5Hex) metadata[MD5_METADATA_KEY] = md5ToMetadata(Buffer.from(md5Hex, 'hex'));
  const tags = options.tags ?? {};
  return {
    Metadata: metadata,
    ...(Object.keys(tags).length > 0 ? { Tagging: new URLSearchParams(tags).toString() } : {}),
    ...(options.contentType ? { ContentType: options.contentType } : {}),
    ...(options.storageClass ? { StorageClass: options.storageClass as never } : {}),
    ...(options.sse ? { ServerSideEncryption: options.sse } : {}),
    ...(options.sseKmsKeyId ? { SSEKMSKeyId: options.sseKmsKeyId } : {}),
  };
}

/** The same, as the headers of a PUT sent without the SDK. */
export function storageHeaders(options: PutOptions, md5Hex: string | undefined): Record<string, string> {
  const fields = storageFields(options, md5Hex);
  const headers: Record<string, string> = {};
  for (const [name, value] of Object.entries(fields.Metadata)) headers[`x-amz-meta-${name}`] = value;
  if (fields.Tagging) headers['x-amz-tagging'] = fields.Tagging;
  if (fields.ContentType) headers['content-type'] = fields.ContentType;
  if (fields.StorageClass) headers['x-amz-storage-class'] = fields.StorageClass;
  if (fields.ServerSideEncryption) headers['x-amz-server-side-encryption'] = fields.ServerSideEncryption;
  if (fields.SSEKMSKeyId) headers['x-amz-server-side-encryption-aws-kms-key-id'] = fields.SSEKMSKeyId;
  return headers;
}

export interface UploadedObject {
  bucket: string;
  key: string;
  size: number;
  etag: string;
  /** The full-object CRC32, base64, as S3 shows it. */
  crc32: string;
  /** Hex MD5 of the whole content, where it was computed (single PUTs, --md5-metadata). */
  md5?: string;
  parts: number;
  /** Parts found already on the server from an interrupted run and not sent again. */
  partsReused?: number;
  /** The version written, in a versioned bucket. */
  versionId?: string;
}

/** Where S3 takes and returns a full-object CRC32 (base64). */
export const CRC32_HEADER = 'x-amz-checksum-crc32';

/** CreateMultipartUpload's request for a full-object CRC32, checked per part and at completion. */
export const FULL_OBJECT_CRC32: Readonly<Record<string, string>> = { 'x-amz-checksum-algorithm': 'CRC32', 'x-amz-checksum-type': 'FULL_OBJECT' };

/** The condition of a write that must not replace an object (`--no-clobber`). */
export const IF_NONE_MATCH = { 'if-none-match': '*' };

export function versionOf(answer: WriteAnswer): { versionId?: string } {
  return answer.versionId === undefined ? {} : { versionId: answer.versionId };
}
