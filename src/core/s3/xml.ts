/**
 * A strict reader of the small XML documents S3 answers with (a listing page, an upload id, an error).
 * It checks what makes a document well-formed — one root, every tag closed by its own name, attributes
 * quoted, text free of `<` and of references XML does not define, nothing but space, comments and
 * processing instructions around the root, no DOCTYPE — and gives the tree as plain objects: a child
 * element with only text is that text (never trimmed, never read as a number), one with children an
 * object, a repeated child (and every child named in `alwaysLists`) a list. Attributes are checked,
 * not kept. Anything else throws MalformedXml.
 *
 * Hand-written instead of fast-xml-parser: its validator and parser together take tens of milliseconds
 * per 1,000-key listing page once warm and hundreds on a run's first page (README, Performance), and a
 * listing of a million keys is a thousand pages; this reader is a tokenizer on one regular expression.
 */

export class MalformedXml extends Error {
  override readonly name: string = 'MalformedXml';
}

/** A reference XML does not define, or one to no character (a flipped byte in `&amp;`). */
export class UnknownReference extends MalformedXml {
  override readonly name = 'UnknownReference';
}

/** An element's children by name: text, an element, or a list of them (a repeated child). */
export type XmlElement = { [name: string]: string | XmlElement | Array<string | XmlElement> };

/**
 * A tag, a comment, a processing instruction or a CDATA section, at the `<` where it starts. Every
 * name is followed by a look-ahead that it ends there: without it, a name with no end in sight (`<?`
 * and megabytes of letters) is tried again at every shorter length, each try scanning to the end.
 */
const MARKUP =
  /<(?:(\/?)([A-Za-z_:][-\w.:]*)(?![-\w.:])((?:\s+[A-Za-z_:][-\w.:]*(?![-\w.:])\s*=\s*(?:"[^"<]*"|'[^'<]*'))*)\s*(\/?)>|!--([\s\S]*?)-->|\?([A-Za-z_:][-\w.:]*)(?![-\w.:])([\s\S]*?)\?>|!\[CDATA\[([\s\S]*?)\]\]>)/y;

/** A tag name alone (no attributes, not self-closing): the quick path of readXml. */
const PLAIN_NAME = /^[A-Za-z_:][-\w.:]*$/;
const SLASH = 0x2f;

const REFERENCE = /&(?:(#x[0-9a-fA-F]+|#[0-9]+)|(amp|lt|gt|quot|apos));/y;
const NAMED: Record<string, string> = { amp: '&', lt: '<', gt: '>', quot: '"', apos: "'" };

/** Deeper than any S3 answer; deeper still is damage, not a reason to recurse without end. */
const MAX_DEPTH = 64;

interface Open {
  name: string;
  element: XmlElement;
  text: string;
  hasChildren: boolean;
}

/** The document's root element: its name, and its children as described above. */
export function readXml(xml: string, alwaysLists: ReadonlySet<string> = new Set()): { root: string; element: XmlElement } {
  const stack: Open[] = [];
  let root: { root: string; element: XmlElement } | undefined;
  let position = 0;
  while (position < xml.length) {
    const lt = xml.indexOf('<', position);
    const textEnd = lt === -1 ? xml.length : lt;
    if (textEnd > position) addText(stack, xml.slice(position, textEnd), position);
    if (lt === -1) break;
    // Most of an answer: `<Name>` and `</Name>` with no attributes, read without the full expression.
    const gt = xml.indexOf('>', lt);
    if (gt !== -1) {
      const closes = xml.charCodeAt(lt + 1) === SLASH;
      const name = xml.slice(closes ? lt + 2 : lt + 1, gt);
      if (closes && stack.length > 0 && name === stack[stack.length - 1]!.name) {
        const open = stack.pop()!;
        const value = valueOf(open, lt);
        if (stack.length === 0) root = { root: open.name, element: typeof value === 'string' ? {} : value };
        else addChild(stack[stack.length - 1]!, open.name, value, alwaysLists);
        position = gt + 1;
        continue;
      }
      if (!closes && stack.length > 0 && stack.length < MAX_DEPTH && PLAIN_NAME.test(name)) {
        stack.push({ name, element: {}, text: '', hasChildren: false });
        position = gt + 1;
        continue;
      }
    }
    MARKUP.lastIndex = lt;
    const match = MARKUP.exec(xml);
    if (!match) throw new MalformedXml(`malformed markup at byte ${lt}`);
    position = MARKUP.lastIndex;
    const [, closing, name, , selfClosing, comment, target, , cdata] = match;
    if (comment !== undefined) {
      if (comment.includes('--')) throw new MalformedXml(`'--' inside a comment at byte ${lt}`);
      continue;
    }
    if (target !== undefined) {
      // The declaration only first; other processing instructions anywhere.
      if (target.toLowerCase() === 'xml' && lt !== 0) throw new MalformedXml(`an XML declaration not at the start (byte ${lt})`);
      continue;
    }
    if (cdata !== undefined) {
      if (stack.length === 0) throw new MalformedXml(`text outside the root element at byte ${lt}`);
      stack[stack.length - 1]!.text += cdata;
      continue;
    }
    if (closing) {
      if (selfClosing) throw new MalformedXml(`malformed closing tag at byte ${lt}`);
      const open = stack.pop();
      if (!open || open.name !== name) throw new MalformedXml(`</${name}> at byte ${lt} closes ${open ? `<${open.name}>` : 'nothing'}`);
      const value = valueOf(open, lt);
      if (stack.length === 0) root = { root: open.name, element: typeof value === 'string' ? {} : value };
      else addChild(stack[stack.length - 1]!, open.name, value, alwaysLists);
      continue;
    }
    if (stack.length === 0 && root) throw new MalformedXml(`a second root element <${name}> at byte ${lt}`);
    if (stack.length >= MAX_DEPTH) throw new MalformedXml(`elements nested deeper than ${MAX_DEPTH}`);
    if (selfClosing) {
      if (stack.length === 0) root = { root: name!, element: {} };
      else addChild(stack[stack.length - 1]!, name!, '', alwaysLists);
      continue;
    }
    stack.push({ name: name!, element: {}, text: '', hasChildren: false });
  }
  if (stack.length > 0) throw new MalformedXml(`<${stack[stack.length - 1]!.name}> is never closed (the document ends at byte ${xml.length})`);
  if (!root) throw new MalformedXml('no root element');
  return root;
}

/** Text at `at`: inside an element, its references resolved; outside the root, only space. */
function addText(stack: Open[], raw: string, at: number): void {
  if (stack.length === 0) {
    if (raw.trim() !== '') throw new MalformedXml(`text outside the root element at byte ${at}`);
    return;
  }
  stack[stack.length - 1]!.text += raw.includes('&') ? resolveReferences(raw, at) : raw;
}

/** XML's five named references and numeric ones to a character; anything else is not XML. */
function resolveReferences(raw: string, at: number): string {
  let result = '';
  let from = 0;
  for (let amp = raw.indexOf('&'); amp !== -1; amp = raw.indexOf('&', from)) {
    REFERENCE.lastIndex = amp;
    const match = REFERENCE.exec(raw);
    if (!match) throw new UnknownReference(`unknown reference ${/^&[^&;<\s]{0,12};?/.exec(raw.slice(amp))?.[0] ?? '&'} at byte ${at + amp}`);
    result += raw.slice(from, amp);
    if (match[2] !== undefined) result += NAMED[match[2]]!;
    else {
      const reference = match[1]!;
      const code = reference.startsWith('#x') ? Number.parseInt(reference.slice(2), 16) : Number(reference.slice(1));
      // A surrogate on its own is half of a character: no key (UTF-8) can hold it.
      if (!(code > 0 && code <= 0x10ffff) || (code >= 0xd800 && code <= 0xdfff)) throw new UnknownReference(`unknown reference ${match[0]} (no character) at byte ${at + amp}`);
      result += String.fromCodePoint(code);
    }
    from = REFERENCE.lastIndex;
  }
  return result + raw.slice(from);
}

/** An element closed: its text, or its children (text beside children may only be space). */
function valueOf(open: Open, at: number): string | XmlElement {
  if (!open.hasChildren) return open.text;
  if (open.text.trim() !== '') throw new MalformedXml(`<${open.name}> mixes text and elements (before byte ${at})`);
  return open.element;
}

function addChild(parent: Open, name: string, value: string | XmlElement, alwaysLists: ReadonlySet<string>): void {
  parent.hasChildren = true;
  const existing = parent.element[name];
  if (existing === undefined) parent.element[name] = alwaysLists.has(name) ? [value] : value;
  else if (Array.isArray(existing)) existing.push(value);
  else parent.element[name] = [existing, value];
}
