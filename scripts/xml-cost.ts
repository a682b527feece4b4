/**
 * What reading one 1,000-key ListObjectsV2 page costs (CPU), with the reader datalake uses
 * (src/core/s3/xml.ts) and with fast-xml-parser's validator + parser (the AWS SDK's own XML library,
 * which datalake used before): the first page of a run (code not yet optimised) and later ones.
 * Usage: npx tsx scripts/xml-cost.ts [datalake|fast-xml-parser] — each in a process of its own.
 */
import { readXml } from '../src/core/s3/xml.js';

let xml = '<?xml version="1.0" encoding="UTF-8"?>\n<ListBucketResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><Name>lake</Name><Prefix>raw/</Prefix><KeyCount>1000</KeyCount><MaxKeys>1000</MaxKeys><Delimiter></Delimiter><IsTruncated>false</IsTruncated>';
for (let index = 0; index < 1000; index++) {
  xml += `<Contents><Key>raw/events/dt=2026-12-0${index % 9}/part-${String(index).padStart(5, '0')}.parquet</Key><LastModified>2026-12-02T15:30:00.123Z</LastModified><ETag>&#34;0123456789abcdef0123456789abcdef&#34;</ETag><Size>16384</Size><Owner><ID>02d6176db174dc93cb1b899f7c6078f08654445fe8cf1b6ce98d8855f66bdbf4</ID><DisplayName>minio</DisplayName></Owner><StorageClass>STANDARD</StorageClass></Contents>`;
}
xml += '</ListBucketResult>';

const reader = process.argv[2] ?? 'datalake';
let read: (text: string) => unknown = (text) => readXml(text, new Set(['Contents']));
if (reader === 'fast-xml-parser') {
  // Resolved from the AWS SDK's own dependencies, not datalake's.
  const { XMLParser, XMLValidator } = await import('fast-xml-parser');
  const parser = new XMLParser({ ignoreAttributes: true, parseTagValue: false, trimValues: false, isArray: (name: string) => name === 'Contents' });
  read = (text) => XMLValidator.validate(text) === true && parser.parse(text);
}
const costs: number[] = [];
for (let page = 0; page < 20; page++) {
  const before = process.cpuUsage();
  read(xml);
  const used = process.cpuUsage(before);
  costs.push((used.user + used.system) / 1000);
}
const later = costs.slice(10).sort((a, b) => a - b);
console.log(`${reader}: ${(xml.length / 1024).toFixed(0)} KiB page; first ${costs[0]!.toFixed(1)} ms CPU, pages 11-20 median ${later[5]!.toFixed(1)} ms`);
