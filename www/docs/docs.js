// The API reference: renders /openapi.json (generated from openapi.yaml by
// scripts/openapi-json.sh) with no libraries and no network beyond this site.
const $ = (s) => document.querySelector(s);
const METHODS = ['get', 'post', 'put', 'patch', 'delete'];

function h(tag, props, ...children) {
  if (props == null || typeof props === 'string' || props instanceof Node || Array.isArray(props)) {
    if (props != null) children.unshift(props);
    props = {};
  }
  const [name, ...cls] = tag.split('.');
  const el = document.createElement(name);
  if (cls.length) el.className = cls.join(' ');
  for (const [k, v] of Object.entries(props)) if (v != null && v !== false) el.setAttribute(k, v === true ? '' : v);
  const add = (c) => {
    if (c == null || c === false) return;
    if (Array.isArray(c)) c.forEach(add); else el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  };
  children.forEach(add);
  return el;
}

// Just enough Markdown for descriptions: paragraphs, `code`, **bold**, [links](url).
function md(text) {
  if (!text) return null;
  return h('div.desc', String(text).trim().split(/\n\s*\n/).map((para) => h('p', inline(para.replace(/\n/g, ' ')))));
}
function inline(s) {
  const out = [];
  const re = /`([^`]+)`|\*\*([^*]+)\*\*|\[([^\]]+)\]\(([^)\s]+)\)/g;
  let last = 0, m;
  while ((m = re.exec(s))) {
    if (m.index > last) out.push(s.slice(last, m.index));
    if (m[1] != null) out.push(h('code', m[1]));
    else if (m[2] != null) out.push(h('strong', m[2]));
    else if (/^(https?:|#|\/)/.test(m[4])) out.push(h('a', { href: m[4] }, m[3]));
    else out.push(m[3]);
    last = re.lastIndex;
  }
  out.push(s.slice(last));
  return out;
}

let spec;
function resolve(ref) {
  return ref.replace(/^#\//, '').split('/').reduce((o, k) => (o ? o[k.replace(/~1/g, '/').replace(/~0/g, '~')] : undefined), spec);
}
const refName = (ref) => ref.split('/').pop();
const slug = (s) => s.replace(/[^A-Za-z0-9]+/g, '-').replace(/^-|-$/g, '');

// allOf: one object with the members of all its parts.
function mergeAllOf(s, depth = 0) {
  if (!s || !s.allOf || depth > 5) return s;
  const out = { type: 'object', properties: {}, required: [] };
  for (const part of s.allOf) {
    const p = mergeAllOf(part.$ref ? resolve(part.$ref) : part, depth + 1) || {};
    Object.assign(out.properties, p.properties || {});
    out.required.push(...(p.required || []));
    if (p.description && !out.description) out.description = p.description;
  }
  if (s.properties) Object.assign(out.properties, s.properties);
  if (s.required) out.required.push(...s.required);
  return out;
}

function typeLabel(s) {
  if (!s) return 'any';
  if (s.allOf) {
    const refs = s.allOf.filter((p) => p.$ref);
    return refs.length ? joinNodes(refs.map(typeLabel), ' + ') : 'object';
  }
  if (s.$ref) return h('a', { href: '#schema-' + refName(s.$ref) }, refName(s.$ref));
  if (s.const !== undefined) return JSON.stringify(s.const);
  if (s.enum) return s.enum.map((v) => JSON.stringify(v)).join(' | ');
  if (s.oneOf || s.anyOf) return joinNodes((s.oneOf || s.anyOf).map(typeLabel), ' | ');
  const t = Array.isArray(s.type) ? s.type : s.type ? [s.type] : [];
  if (t.includes('array') || s.items) {
    const rest = t.filter((x) => x !== 'array');
    return joinNodes([h('span', 'array of ', typeLabel(s.items)), ...rest], ' | ');
  }
  const base = t.length ? t.join(' | ') : s.properties ? 'object' : 'any';
  return s.format ? `${base} (${s.format})` : base;
}
function joinNodes(parts, sep) {
  const out = [];
  parts.forEach((p, i) => { if (i) out.push(sep); out.push(p); });
  return h('span', out);
}

function constraints(s) {
  if (!s || s.$ref) return '';
  const c = [];
  if (s.minLength != null) c.push(`min length ${s.minLength}`);
  if (s.maxLength != null) c.push(`max length ${s.maxLength}`);
  if (s.minimum != null) c.push(`≥ ${s.minimum}`);
  if (s.maximum != null) c.push(`≤ ${s.maximum}`);
  if (s.maxItems != null) c.push(`at most ${s.maxItems} items`);
  if (s.pattern) c.push(`pattern ${s.pattern}`);
  if (s.default !== undefined) c.push(`default ${JSON.stringify(s.default)}`);
  return c.join(', ');
}

// A schema as a nested list of its properties (references link to the schema section).
function schemaTree(s, depth = 0) {
  if (!s) return h('p.constraint', 'No schema.');
  if (s.allOf) s = mergeAllOf(s);
  if (s.$ref || depth > 4) return h('div.schema', h('span.type', typeLabel(s)));
  const target = s.items && !s.items.$ref ? s.items : s;
  if (!target.properties) {
    return h('div.schema', h('span.type', typeLabel(s)), s.description ? h('span.constraint', ' — ', inline(s.description)) : null,
      constraints(s) ? h('span.constraint', ` (${constraints(s)})`) : null);
  }
  const required = new Set(target.required || []);
  return h('div.schema', target !== s ? h('span.type', 'array of object') : null,
    h('ul', Object.entries(target.properties).map(([name, p]) => h('li',
      h('span.prop', name), required.has(name) ? h('span.req', 'required') : null, ' ',
      h('span.type', typeLabel(p)),
      p.description ? [' — ', inline(p.description)] : null,
      constraints(p) ? h('span.constraint', ` (${constraints(p)})`) : null,
      (p.properties || (p.items && p.items.properties)) ? schemaTree(p, depth + 1) : null))));
}

function schemaKind(s) {
  if (s.oneOf || s.anyOf) return 'one of';
  if (s.properties) return 'object';
  return typeLabel(s);
}
function schemaBody(s) {
  if (s.properties || (s.items && s.items.properties)) return schemaTree(s);
  if (s.oneOf || s.anyOf) {
    const d = s.discriminator;
    return h('div.schema', h('p', 'One of: ', h('span.type', typeLabel(s))),
      d ? h('p.constraint', 'Chosen by the ', h('code', d.propertyName), ' member',
        d.mapping ? [': ', joinNodes(Object.entries(d.mapping).map(([k, ref]) => h('span', h('code', k), ' → ', h('a', { href: '#schema-' + refName(ref) }, refName(ref)))), ', ')] : null, '.') : null);
  }
  const c = constraints(s);
  return c ? h('p.constraint', c) : null;
}

function paramsTable(params) {
  return h('table', h('thead', h('tr', h('th', 'Name'), h('th', 'In'), h('th', 'Type'), h('th', 'Description'))),
    h('tbody', params.map((p) => {
      const prm = p.$ref ? resolve(p.$ref) : p;
      return h('tr', h('td', h('code', prm.name), prm.required ? h('span.req', 'required') : null), h('td', prm.in),
        h('td', h('span.type', typeLabel(prm.schema))), h('td', prm.description ? inline(prm.description) : '', constraints(prm.schema) ? h('span.constraint', ` ${constraints(prm.schema)}`) : null));
    })));
}

function contentBlock(content) {
  if (!content) return null;
  return Object.entries(content).map(([ctype, media]) => (media.schema && (media.schema.$ref || ctype === 'text/event-stream')
    ? h('div.media', h('span.ctype', ctype + ': '), h('span.type', typeLabel(media.schema)))
    : h('div.media-block', h('span.ctype', ctype), schemaTree(media.schema))));
}

function operation(path, method, op) {
  const id = op.operationId || slug(method + '-' + path);
  const params = [...(spec.paths[path].parameters || []), ...(op.parameters || [])];
  const secured = op.security ? op.security.length > 0 : (spec.security || []).length > 0;
  const body = op.requestBody && (op.requestBody.$ref ? resolve(op.requestBody.$ref) : op.requestBody);
  return h('section.op', { id: 'op-' + id, 'aria-labelledby': 'op-title-' + id },
    h('div.op-head', h('span.method.m-' + method, method), h('span.path', path),
      h('h3', { id: 'op-title-' + id }, op.summary || ''),
      h('span.auth', secured ? 'Bearer token' : 'No authentication')),
    h('div.op-body',
      md(op.description),
      params.length ? [h('h4', 'Parameters'), paramsTable(params)] : null,
      body ? [h('h4', 'Request body' + (body.required ? '' : ' (optional)')), md(body.description), contentBlock(body.content)] : null,
      h('h4', 'Responses'),
      Object.entries(op.responses || {}).map(([code, r]) => {
        const resp = r.$ref ? resolve(r.$ref) : r;
        return h('div.response', h('span.status.s' + code[0], code), ' ', inline(resp.description || ''),
          resp.headers ? h('span.constraint', ` Headers: ${Object.keys(resp.headers).join(', ')}`) : null,
          contentBlock(resp.content));
      })));
}

function render() {
  const info = spec.info || {};
  const byTag = new Map((spec.tags || []).map((t) => [t.name, { tag: t, ops: [] }]));
  for (const [path, item] of Object.entries(spec.paths || {})) {
    for (const m of METHODS) {
      if (!item[m]) continue;
      const tag = (item[m].tags || ['other'])[0];
      if (!byTag.has(tag)) byTag.set(tag, { tag: { name: tag }, ops: [] });
      byTag.get(tag).ops.push([path, m, item[m]]);
    }
  }
  const nav = $('#nav');
  nav.replaceChildren(h('a.brand', { href: '#top' }, info.title || 'API'));
  const content = $('#content');
  content.replaceChildren(h('header', { id: 'top' }, h('h1', info.title || 'API reference'),
    h('p.version', `Version ${info.version || ''} · OpenAPI ${spec.openapi || ''} · base URL `, h('code', (spec.servers || [{ url: '/' }])[0].url),
      ' · ', h('a', { href: '/openapi.yaml' }, 'openapi.yaml')),
    info.summary ? h('p', info.summary) : null, md(info.description)));
  for (const { tag, ops } of byTag.values()) {
    if (!ops.length) continue;
    nav.append(h('h2', tag.name), h('ul', ops.map(([path, m, op]) => h('li', h('a', { href: '#op-' + (op.operationId || slug(m + '-' + path)) },
      h('span.method.m-' + m, m), h('span', path))))));
    content.append(h('section.tag-section', { id: 'tag-' + slug(tag.name) }, h('h2', tag.name), md(tag.description), ops.map(([p, m, op]) => operation(p, m, op))));
  }
  const schemas = (spec.components && spec.components.schemas) || {};
  if (Object.keys(schemas).length) {
    nav.append(h('h2', 'Schemas'), h('ul', Object.keys(schemas).map((n) => h('li', h('a', { href: '#schema-' + n }, n)))));
    content.append(h('section.tag-section', h('h2', 'Schemas'), Object.entries(schemas).map(([n, s]) =>
      h('section.op', { id: 'schema-' + n }, h('div.op-head', h('h3', n), h('span.type', schemaKind(s))),
        h('div.op-body', md(s.description), schemaBody(s))))));
  }
  document.title = `${info.title || 'API'} reference`;
  if (location.hash) { const t = document.getElementById(location.hash.slice(1)); if (t) t.scrollIntoView(); }
}

fetch('/openapi.json', { cache: 'no-cache' })
  .then((r) => { if (!r.ok) throw new Error(`HTTP ${r.status}`); return r.json(); })
  .then((s) => { spec = s; render(); })
  .catch((e) => { $('#content').replaceChildren(h('p.error', { role: 'alert' }, `Could not load the API description: ${e.message}`)); });
