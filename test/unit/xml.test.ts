/**
 * The strict XML reader of S3's answers (src/core/s3/xml.ts): what a well-formed document gives, and
 * every way a document can fail to be well-formed that a damaged answer shows.
 */
import { describe, expect, it } from 'vitest';
import { MalformedXml, readXml, UnknownReference } from '../../src/core/s3/xml.js';

const LISTS = new Set(['Contents']);

describe('readXml', () => {
  it('gives the root and its children: text as it is (never trimmed, never a number), elements as objects, repeats and named lists as lists', () => {
    const xml = `<?xml version="1.0" encoding="UTF-8"?>
<ListBucketResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/" a='b'>
  <Name>lake</Name><KeyCount>007</KeyCount><Delimiter></Delimiter><Marker/>
  <Contents><Key>  two spaces  </Key><ETag>&quot;abc&#34;&#x22;</ETag></Contents>
  <CommonPrefixes><Prefix>a/</Prefix></CommonPrefixes><CommonPrefixes><Prefix>b/</Prefix></CommonPrefixes>
  <!-- a comment --><?pi anything?>
  <Note><![CDATA[<not a tag> & not a reference]]></Note>
</ListBucketResult>
`;
    expect(readXml(xml, LISTS)).toEqual({
      root: 'ListBucketResult',
      element: {
        Name: 'lake',
        KeyCount: '007',
        Delimiter: '',
        Marker: '',
        Contents: [{ Key: '  two spaces  ', ETag: '"abc""' }],
        CommonPrefixes: [{ Prefix: 'a/' }, { Prefix: 'b/' }],
        Note: '<not a tag> & not a reference',
      },
    });
  });

  it('resolves the five named references and numeric ones, astral characters included', () => {
    expect(readXml('<r><k>&amp;&lt;&gt;&quot;&apos;&#233;&#x1F600;</k></r>').element).toEqual({ k: `&<>"'é😀` });
  });

  it.each([
    ['a closing tag that is not the open one', '<r><a>x</b></r>'],
    ['a tag never closed', '<r><a>x</a>'],
    ['a document cut inside a tag', '<r><a>x</a'],
    ['a closing tag with nothing open', '</r>'],
    ['two root elements', '<r/><s/>'],
    ['text outside the root', '<r/>junk'],
    ['text before the root', 'junk<r/>'],
    ['an unquoted attribute', '<r a=b/>'],
    ['a `<` inside text', '<r><a>x < y</a></r>'],
    ['a DOCTYPE', '<!DOCTYPE r [<!ENTITY e "boom">]><r>&e;</r>'],
    ['`--` inside a comment', '<r><!-- a -- b --></r>'],
    ['a declaration not at the start', '<r/><?xml version="1.0"?>'],
    ['text mixed with elements', '<r>loose<a>x</a></r>'],
    ['an empty document', ''],
    ['a document of space only', '  \n'],
  ])('%s is not well-formed', (_what, xml) => {
    expect(() => readXml(xml)).toThrow(MalformedXml);
  });

  it.each(['&amq;', '&#0;', '&#x110000;', '& ', '&amp', '&#xZZ;'])('%s is no reference XML defines', (reference) => {
    expect(() => readXml(`<r><a>x${reference}y</a></r>`)).toThrow(UnknownReference);
  });

  it('elements nested without end are refused, not recursed into', () => {
    expect(() => readXml(`${'<a>'.repeat(1000)}${'</a>'.repeat(1000)}`)).toThrow(/nested deeper/);
  });
});
