// Small DOM helpers. Data from the server is only ever set as text or as an
// attribute value, never parsed as HTML.

/**
 * h builds an element: h('a', {href: '#/x', class: 'btn'}, 'text', child).
 * Attributes starting with "on" are event listeners; boolean true sets an
 * empty attribute; null, undefined and false are skipped.
 */
export function h(tag, attrs, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === null || v === undefined || v === false) continue;
    if (k.startsWith('on') && typeof v === 'function') {
      el.addEventListener(k.slice(2).toLowerCase(), v);
    } else if (k === 'dataset') {
      Object.assign(el.dataset, v);
    } else if (v === true) {
      el.setAttribute(k, '');
    } else {
      el.setAttribute(k, String(v));
    }
  }
  append(el, children);
  return el;
}

function append(el, children) {
  for (const c of children) {
    if (c === null || c === undefined || c === false) continue;
    if (Array.isArray(c)) append(el, c);
    else el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
}

/** replace empties el and fills it with children. */
export function replace(el, ...children) {
  el.replaceChildren();
  append(el, children);
  return el;
}

let fieldSeq = 0;

/**
 * field is a labelled form control. opts: {label, name, type, value,
 * required, help, options (for a select), autocomplete, pattern, min, max}.
 */
export function field(opts) {
  const id = `f${++fieldSeq}`;
  const helpId = opts.help ? `${id}-help` : null;
  const common = {id, name: opts.name, required: opts.required, 'aria-describedby': helpId,
    autocomplete: opts.autocomplete, pattern: opts.pattern, min: opts.min, max: opts.max,
    minlength: opts.minlength, maxlength: opts.maxlength, placeholder: opts.placeholder,
    inputmode: opts.inputmode, spellcheck: opts.spellcheck};
  let control;
  if (opts.options) {
    control = h('select', common, opts.options.map(([value, text]) =>
      h('option', {value, selected: value === opts.value}, text)));
  } else if (opts.type === 'textarea') {
    control = h('textarea', {...common, rows: opts.rows || 4}, opts.value ?? '');
  } else {
    control = h('input', {...common, type: opts.type || 'text', value: opts.value ?? null});
  }
  return h('div', {class: 'field', dataset: opts.show ? {show: opts.show} : undefined},
    h('label', {for: id, class: opts.required ? 'required' : null}, opts.label),
    control,
    opts.help ? h('p', {class: 'help', id: helpId}, opts.help) : null);
}

/** formData reads a form's named controls into a plain object of strings. */
export function formData(form) {
  const out = {};
  for (const [k, v] of new FormData(form).entries()) {
    if (typeof v === 'string') out[k] = v.trim();
  }
  return out;
}

/** table renders rows as an accessible table, or the empty state. */
export function table(caption, columns, rows, empty) {
  if (!rows.length) return h('div', {class: 'empty'}, empty);
  return h('div', {class: 'table-wrap'}, h('table', {},
    h('caption', {class: 'sr-only'}, caption),
    h('thead', {}, h('tr', {}, columns.map((c) => h('th', {scope: 'col'}, c.title)))),
    h('tbody', {}, rows.map((r) => h('tr', {}, columns.map((c, i) =>
      i === 0 ? h('th', {scope: 'row'}, c.cell(r)) : h('td', {}, c.cell(r))))))));
}

/** badge is a short status label. */
export function badge(text, kind) {
  return h('span', {class: `badge ${kind || ''}`}, text);
}

/** when formats a timestamp for people, or a dash. */
export function when(ts) {
  if (!ts) return '—';
  const d = new Date(ts.replace(/([+-]\d\d)(\d\d)$/, '$1:$2'));
  if (Number.isNaN(d.getTime())) return ts;
  return d.toLocaleString();
}
