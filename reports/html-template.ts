/**
 * The inline stylesheet and script of report.html (reports/html.ts). Plain strings: the page has no
 * external resource of any kind (its Content-Security-Policy forbids them), works from file://, and
 * builds every element from the embedded results document with textContent (never innerHTML), so
 * text a device reported cannot become markup.
 */

export const REPORT_CSS = `
:root { --fg:#1b1f24; --muted:#5b6470; --bg:#fff; --panel:#f6f8fa; --line:#d8dee4; --link:#0a58ca;
  --pass:#1a7f37; --partial:#4d7c0f; --fail:#cf222e; --warn:#9a6700; --timeout:#bc4c00; --wedged:#8250df;
  --harness:#a0116b; --nt:#6e7781; --na:#8c959f; }
* { box-sizing: border-box; }
body { margin:0; font: 14px/1.45 "Liberation Sans", Arial, Helvetica, sans-serif; color:var(--fg); background:var(--bg); }
header.top { padding:16px 24px; border-bottom:1px solid var(--line); background:var(--panel); }
header.top h1 { margin:0 0 4px; font-size:20px; }
.result { display:inline-block; padding:2px 10px; border-radius:4px; color:#fff; font-weight:bold; margin-right:8px; }
.result.exit-0 { background:var(--pass); } .result.exit-1 { background:var(--fail); }
.result.exit-2 { background:var(--harness); } .result.exit-3 { background:var(--wedged); }
.meta { color:var(--muted); }
.banner { margin:12px 24px 0; padding:8px 12px; border:1px solid var(--wedged); border-left-width:6px; background:#fbf7ff; }
nav.toc { padding:6px 24px; border-bottom:1px solid var(--line); font-size:13px; }
nav.toc a { margin-right:14px; }
main { padding:8px 24px 40px; }
section { margin-top:20px; }
h2 { font-size:17px; margin:0 0 8px; border-bottom:1px solid var(--line); padding-bottom:4px; }
a { color:var(--link); text-decoration:none; } a:hover { text-decoration:underline; }
.cards { display:flex; flex-wrap:wrap; gap:8px; margin-bottom:6px; }
.card { border:1px solid var(--line); border-radius:6px; padding:6px 10px; min-width:112px; background:var(--bg); cursor:pointer; font:inherit; text-align:left; }
.card .n { font-size:20px; font-weight:bold; display:block; }
.card[aria-pressed="true"] { outline:2px solid var(--link); }
.card.zero { opacity:.55; }
.group-label { font-weight:bold; margin:8px 0 4px; }
.v { display:inline-block; padding:0 6px; border-radius:3px; color:#fff; font-size:12px; font-weight:bold; white-space:nowrap; }
.v-PASS,.v-PASSED { background:var(--pass); } .v-PASSED_PARTIAL { background:var(--partial); }
.v-FAIL,.v-FAILED { background:var(--fail); } .v-WARN { background:var(--warn); } .v-TIMEOUT { background:var(--timeout); }
.v-WEDGED { background:var(--wedged); } .v-HARNESS_ERROR { background:var(--harness); }
.v-NOT_TESTED { background:var(--nt); } .v-NOT_APPLICABLE { background:var(--na); }
.filters { position:sticky; top:0; z-index:2; background:var(--bg); padding:8px 0; border-bottom:1px solid var(--line); display:flex; flex-wrap:wrap; gap:8px 16px; align-items:center; }
.filters label { color:var(--muted); }
.filters input[type=search] { width:280px; padding:4px 6px; font:inherit; }
.filters select { font:inherit; padding:3px; }
.chips { display:inline-flex; flex-wrap:wrap; gap:4px; }
.chip { font:inherit; font-size:12px; border:1px solid var(--line); background:var(--panel); border-radius:12px; padding:1px 9px; cursor:pointer; }
.chip[aria-pressed="true"] { background:var(--fg); color:#fff; border-color:var(--fg); }
.shown { color:var(--muted); font-size:13px; }
table { border-collapse:collapse; width:100%; }
th,td { text-align:left; vertical-align:top; padding:4px 8px; border-bottom:1px solid var(--line); }
th { background:var(--panel); font-size:13px; }
td.id { font-family:"Liberation Mono", Consolas, monospace; font-size:12.5px; white-space:nowrap; }
.rule { color:var(--muted); font-size:12.5px; }
tr.hidden, details.hidden { display:none; }
details.test { border:1px solid var(--line); border-radius:6px; margin:6px 0; background:var(--bg); }
details.test > summary { cursor:pointer; padding:6px 10px; list-style-position:inside; }
details.test[open] > summary { border-bottom:1px solid var(--line); background:var(--panel); }
details.test .body { padding:8px 12px; }
details.test:target, tr:target { outline:2px solid var(--link); }
details.test, #requirements tr { scroll-margin-top:120px; }
pre { background:var(--panel); border:1px solid var(--line); padding:8px; overflow:auto; font:12px/1.4 "Liberation Mono", Consolas, monospace; white-space:pre-wrap; word-break:break-word; margin:4px 0 8px; }
.replay { display:flex; gap:6px; align-items:flex-start; }
.replay pre { flex:1; margin:0; }
button.copy { font:inherit; font-size:12px; padding:3px 8px; cursor:pointer; }
.kv th { width:220px; }
.muted { color:var(--muted); }
.empty { color:var(--muted); font-style:italic; padding:6px 0; }
@media print { .filters, nav.toc, button.copy { display:none; } details.test { break-inside:avoid; } }
`;

/** The page script: reads the embedded document, builds the page, runs the filters. */
export const REPORT_JS = String.raw`
(() => {
  'use strict';
  const doc = JSON.parse(document.getElementById('vmcts-data').textContent);
  const TEST_VERDICTS = ['PASS', 'FAIL', 'WARN', 'NOT_APPLICABLE', 'NOT_TESTED', 'TIMEOUT', 'WEDGED', 'HARNESS_ERROR'];
  const ROLLUP_VERDICTS = ['PASSED', 'PASSED_PARTIAL', 'FAILED', 'NOT_TESTED', 'NOT_APPLICABLE'];
  const LEVELS = ['MUST', 'MUST NOT', 'SHOULD', 'SHOULD NOT', 'MAY'];

  function h(tag, attrs, ...children) {
    const e = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (v === undefined || v === null || v === false) continue;
      if (k === 'class') e.className = v;
      else if (k === 'text') e.textContent = v;
      else if (k.startsWith('on')) e.addEventListener(k.slice(2), v);
      else e.setAttribute(k, v === true ? '' : String(v));
    }
    for (const c of children.flat(Infinity)) if (c !== undefined && c !== null && c !== false) e.append(c instanceof Node ? c : String(c));
    return e;
  }
  const badge = (v) => h('span', { class: 'v v-' + v, text: v });
  const areaOf = (id) => (id.indexOf('.') > 0 ? id.slice(0, id.indexOf('.')) : 'other');
  const reqById = new Map(doc.requirements.map((r) => [r.id, r]));
  const testById = new Map(doc.tests.map((t) => [t.id, t]));
  const levelsOfTest = (t) => [...new Set(t.requirements.map((r) => (reqById.get(r) || {}).level).filter(Boolean))];
  const lower = (...parts) => parts.flat().filter(Boolean).join(' \u0001 ').toLowerCase();

  // ---- filter state
  const state = { reqVerdicts: new Set(), testVerdicts: new Set(), level: '', area: '', q: '' };
  const reqRows = [];
  const testBlocks = [];

  function apply() {
    const q = state.q.trim().toLowerCase();
    let shownReq = 0;
    for (const row of reqRows) {
      const r = row.data;
      const ok = (!state.reqVerdicts.size || state.reqVerdicts.has(r.verdict)) && (!state.level || r.level === state.level) && (!state.area || r.area === state.area) && (!q || row.search.includes(q));
      row.el.classList.toggle('hidden', !ok);
      if (ok) shownReq++;
    }
    let shownTests = 0;
    for (const block of testBlocks) {
      const t = block.data;
      const ok = (!state.testVerdicts.size || state.testVerdicts.has(t.verdict)) && (!state.level || block.levels.includes(state.level)) && (!state.area || block.area === state.area) && (!q || block.search.includes(q));
      block.el.classList.toggle('hidden', !ok);
      if (ok) shownTests++;
    }
    document.getElementById('req-shown').textContent = 'showing ' + shownReq + ' of ' + reqRows.length + ' requirements';
    document.getElementById('test-shown').textContent = 'showing ' + shownTests + ' of ' + testBlocks.length + ' tests';
    document.getElementById('req-empty').hidden = shownReq !== 0;
    document.getElementById('test-empty').hidden = shownTests !== 0;
    for (const b of document.querySelectorAll('[data-filter]')) {
      const set = b.dataset.filter === 'req-verdict' ? state.reqVerdicts : state.testVerdicts;
      b.setAttribute('aria-pressed', String(set.has(b.dataset.verdict)));
    }
  }

  function toggle(kind, verdict) {
    const set = kind === 'req-verdict' ? state.reqVerdicts : state.testVerdicts;
    if (set.has(verdict)) set.delete(verdict);
    else set.add(verdict);
    apply();
  }

  function resetFilters() {
    state.reqVerdicts.clear();
    state.testVerdicts.clear();
    state.level = state.area = state.q = '';
    document.getElementById('search').value = '';
    document.getElementById('level').value = '';
    document.getElementById('area').value = '';
    apply();
  }

  // ---- summary
  function cards(kind, verdicts, counts) {
    return h('div', { class: 'cards' }, verdicts.map((v) =>
      h('button', { type: 'button', class: 'card' + (counts[v] ? '' : ' zero'), 'data-filter': kind, 'data-verdict': v, 'aria-pressed': 'false', title: 'show only ' + v + ' (click again to clear)', onclick: () => toggle(kind, v) },
        h('span', { class: 'n', 'data-count': v, text: String(counts[v] || 0) }), badge(v))));
  }

  function summarySection() {
    return h('section', { id: 'summary' }, h('h2', { text: 'Verdict summary' }),
      h('div', { class: 'group-label', text: 'Requirements (' + doc.requirements.length + ')' }),
      h('div', { id: 'req-cards' }, cards('req-verdict', ROLLUP_VERDICTS, doc.summary.requirements)),
      h('div', { class: 'group-label', text: 'Tests (' + doc.tests.length + ')' }),
      h('div', { id: 'test-cards' }, cards('test-verdict', TEST_VERDICTS, doc.summary.tests)),
      (doc.session && doc.session.findings.length) ? h('div', {}, h('div', { class: 'group-label', text: 'Findings' }), h('ul', {}, doc.session.findings.map((f) => h('li', { text: f })))) : null);
  }

  // ---- filters
  function filterBar() {
    const areas = [...new Set([...doc.requirements.map((r) => r.area), ...doc.tests.map((t) => areaOf(t.id))])].sort();
    const levels = LEVELS.filter((l) => doc.requirements.some((r) => r.level === l));
    const search = h('input', { type: 'search', id: 'search', placeholder: 'search ids, rules, messages', 'aria-label': 'search', oninput: (e) => { state.q = e.target.value; apply(); } });
    const level = h('select', { id: 'level', 'aria-label': 'level', onchange: (e) => { state.level = e.target.value; apply(); } }, h('option', { value: '', text: 'all levels' }), levels.map((l) => h('option', { value: l, text: l })));
    const area = h('select', { id: 'area', 'aria-label': 'area', onchange: (e) => { state.area = e.target.value; apply(); } }, h('option', { value: '', text: 'all areas' }), areas.map((a) => h('option', { value: a, text: a })));
    return h('div', { class: 'filters', id: 'filters' },
      h('span', {}, h('label', { for: 'search', text: 'Search ' }), search),
      h('span', {}, h('label', { for: 'level', text: 'Level ' }), level),
      h('span', {}, h('label', { for: 'area', text: 'Area ' }), area),
      h('span', { class: 'chips', 'aria-label': 'requirement verdicts' }, h('span', { class: 'muted', text: 'Requirements:' }), ROLLUP_VERDICTS.map((v) => h('button', { type: 'button', class: 'chip', 'data-filter': 'req-verdict', 'data-verdict': v, 'aria-pressed': 'false', onclick: () => toggle('req-verdict', v), text: v }))),
      h('span', { class: 'chips', 'aria-label': 'test verdicts' }, h('span', { class: 'muted', text: 'Tests:' }), TEST_VERDICTS.map((v) => h('button', { type: 'button', class: 'chip', 'data-filter': 'test-verdict', 'data-verdict': v, 'aria-pressed': 'false', onclick: () => toggle('test-verdict', v), text: v }))),
      h('button', { type: 'button', class: 'chip', id: 'reset', onclick: resetFilters, text: 'clear filters' }));
  }

  // ---- requirement matrix
  function requirementSection() {
    const body = h('tbody');
    for (const r of doc.requirements) {
      const tests = r.tests.length ? r.tests.map((id, i) => [i ? ', ' : '', h('a', { href: '#test-' + id, text: id })]) : h('span', { class: 'muted', text: '—' });
      const tr = h('tr', { id: 'req-' + r.id, 'data-verdict': r.verdict, 'data-level': r.level, 'data-area': r.area },
        h('td', { class: 'id' }, r.id),
        h('td', {}, r.level),
        h('td', {}, r.area),
        h('td', {}, badge(r.verdict)),
        h('td', {}, tests),
        h('td', {}, r.rule ? h('div', { text: r.rule }) : null, r.reason ? h('div', { class: 'rule', text: r.reason }) : null,
          h('div', { class: 'rule', text: r.role + ' · ' + r.testability + (r.errata && r.errata.length ? ' · errata ' + r.errata.join(', ') : '') })));
      body.append(tr);
      reqRows.push({ el: tr, data: r, search: lower(r.id, r.rule, r.reason, r.tests, r.area, r.role, r.errata) });
    }
    return h('section', { id: 'requirements' },
      h('h2', { text: 'Requirement matrix' }),
      h('div', { class: 'shown', id: 'req-shown' }),
      h('table', { id: 'req-table' }, h('thead', {}, h('tr', {}, ['requirement', 'level', 'area', 'verdict', 'tests', 'rule / why'].map((c) => h('th', { text: c })))), body),
      h('div', { class: 'empty', id: 'req-empty', hidden: true, text: 'No requirement matches the filters.' }));
  }

  // ---- tests
  async function copy(text, button) {
    let ok = false;
    try {
      if (navigator.clipboard && window.isSecureContext) { await navigator.clipboard.writeText(text); ok = true; }
    } catch (e) { ok = false; }
    if (!ok) {
      const ta = h('textarea', { style: 'position:fixed;left:-9999px;top:0' });
      ta.value = text;
      document.body.append(ta);
      ta.select();
      try { ok = document.execCommand('copy'); } catch (e) { ok = false; }
      ta.remove();
    }
    button.textContent = ok ? 'copied' : 'select and copy';
    setTimeout(() => { button.textContent = 'copy'; }, 1500);
  }

  function block(title, content) {
    return [h('div', { class: 'group-label', text: title }), content];
  }

  function testSection() {
    const list = h('div', { id: 'test-list' });
    for (const t of doc.tests) {
      const reqs = t.requirements.map((id, i) => [i ? ', ' : '', h('a', { href: '#req-' + id, text: id }), t.outcomes[id] && t.outcomes[id] !== t.verdict ? ' (' + t.outcomes[id] + ')' : '']);
      const body = h('div', { class: 'body' },
        h('div', {}, h('span', { class: 'muted', text: 'Requirements: ' }), reqs),
        h('div', { class: 'muted', text: t.file + ' · ' + t.durationMs.toFixed(1) + ' ms' }),
        t.messages.length ? block('Messages', h('pre', { class: 'messages', text: t.messages.join('\n') })) : null,
        t.findings.length ? block('Findings', h('pre', { class: 'findings', text: t.findings.join('\n') })) : null,
        t.driverRuleViolations.length ? block('Driver rules the harness broke', h('pre', { text: t.driverRuleViolations.map((v) => v.rule + ': ' + v.message).join('\n') })) : null,
        t.breaks.length ? h('div', { class: 'muted', text: 'Breaks on purpose: ' + t.breaks.join(', ') }) : null,
        t.observation ? h('div', { class: 'muted', text: 'Observed: ' + t.observation }) : null,
        t.trace.length ? block('Wire trace', h('pre', { class: 'trace', text: t.trace.join('\n') })) : null,
        t.replay ? block('Replay', h('div', { class: 'replay' }, h('pre', { class: 'replay-command', text: t.replay }), h('button', { type: 'button', class: 'copy', title: 'copy the replay command', onclick: (e) => copy(t.replay, e.currentTarget), text: 'copy' }))) : null);
      const d = h('details', { class: 'test', id: 'test-' + t.id, 'data-verdict': t.verdict },
        h('summary', {}, badge(t.verdict), ' ', h('code', { text: t.id }), ' — ', t.title, t.messages.length && t.verdict !== 'PASS' ? h('span', { class: 'muted', text: ' · ' + t.messages[0] }) : null),
        body);
      list.append(d);
      testBlocks.push({ el: d, data: t, area: areaOf(t.id), levels: levelsOfTest(t), search: lower(t.id, t.title, t.requirements, t.messages, t.findings, t.requirements.map((r) => (reqById.get(r) || {}).rule)) });
    }
    return h('section', { id: 'tests' }, h('h2', { text: 'Tests' }), h('div', { class: 'shown', id: 'test-shown' }), list,
      h('div', { class: 'empty', id: 'test-empty', hidden: true, text: doc.tests.length ? 'No test matches the filters.' : 'No test ran.' }));
  }

  // ---- identity, profile, run
  function kv(rows) {
    return h('table', { class: 'kv' }, h('tbody', {}, rows.filter((r) => r && r[1] !== undefined && r[1] !== null && r[1] !== '').map(([k, v]) => h('tr', {}, h('th', { text: k }), h('td', {}, v)))));
  }
  const hex = (n, w) => '0x' + Number(n).toString(16).padStart(w, '0');

  function identitySection() {
    const d = doc.device;
    const dev = d ? kv([
      ['description', d.description],
      ['transport', d.transport],
      ['address (BDF / socket)', d.address],
      ['PCI vendor:device', d.pci ? hex(d.pci.vendorId, 4) + ':' + hex(d.pci.deviceId, 4) + ' rev ' + hex(d.pci.revision, 2) : undefined],
      ['PCI subsystem', d.pci ? hex(d.pci.subsystemVendorId, 4) + ':' + hex(d.pci.subsystemId, 4) : undefined],
      ['serial / DSN', d.serial],
      ['firmware', d.firmware],
      ['members', d.members.map((m) => 'member ' + m.id + ': virtio type ' + m.virtioType + (m.address ? ' at ' + m.address : '')).join('; ')],
    ]) : h('div', { class: 'empty', text: 'The device was not opened (no test ran).' });
    const x = doc.host;
    const host = kv([['hostname', x.hostname], ['OS', x.platform + ' ' + x.release + ' (' + x.arch + ')'], ['Node.js', x.node], ['CPUs', String(x.cpus)]]);
    const s = doc.session;
    const sess = s ? kv([
      ['supported opcodes', s.supportedOpcodes.map((o) => hex(o, 2)).join(' ')],
      ['opcodes in use', s.inUseOpcodes.map((o) => hex(o, 2)).join(' ')],
      ['command sets', Object.entries(s.commandSets).map(([k, v]) => k + (v ? ' yes' : ' no')).join(', ')],
      ['members under test', s.membersUnderTest.join(', ')],
      ['driver rules enforced', s.driverRulesEnforced.join(', ') || 'none'],
    ]) : null;
    return h('section', { id: 'identity' }, h('h2', { text: 'Device and host' }),
      h('div', { class: 'group-label', text: 'Device under test' }), dev,
      sess ? h('div', {}, h('div', { class: 'group-label', text: 'What the device reported' }), sess) : null,
      h('div', { class: 'group-label', text: 'Host' }), host);
  }

  function profileSection() {
    const p = doc.profile;
    const rows = p.readings.map((r) => h('tr', {}, h('td', { class: 'id', text: r.setting }), h('td', { text: r.errata.join(', ') }), h('td', { class: 'id', text: String(r.value) + (r.overridden ? ' (overridden)' : '') }), h('td', { text: r.reading })));
    return h('section', { id: 'profile' }, h('h2', { text: 'Profile and errata readings' }),
      h('p', {}, h('b', { text: p.id }), p.title ? ' — ' + p.title : ''),
      h('table', { id: 'readings' }, h('thead', {}, h('tr', {}, ['setting', 'errata', 'value', 'reading'].map((c) => h('th', { text: c })))), h('tbody', {}, rows)));
  }

  function runSection() {
    const r = doc.run;
    const shards = doc.merged ? h('table', {}, h('thead', {}, h('tr', {}, ['shard', 'started', 'ended', 'complete', 'exit', 'host', 'results.json SHA-256'].map((c) => h('th', { text: c })))),
      h('tbody', {}, doc.merged.shards.map((s) => h('tr', {}, h('td', { text: s.shard }), h('td', { text: s.startedAt }), h('td', { text: s.endedAt }), h('td', { text: s.complete ? 'yes' : 'no: ' + (s.incompleteReason || '') }), h('td', { text: String(s.exitCode) }), h('td', { text: s.host.hostname }), h('td', { class: 'id', text: s.resultsSha256 }))))) : null;
    return h('section', { id: 'run' }, h('h2', { text: 'Run' }),
      kv([
        ['tool', doc.tool.name + ' ' + doc.tool.version + (doc.tool.commit ? ' (' + doc.tool.commit + ')' : '')],
        ['command', h('code', { text: r.command })],
        ['started', r.startedAt], ['ended', r.endedAt], ['duration', (r.durationMs / 1000).toFixed(1) + ' s'],
        ['complete', r.complete ? 'yes' : 'no: ' + (r.incompleteReason || '')],
        ['exit code', String(r.exitCode)], ['seed', String(doc.seed)], ['shard', r.shard], ['config file', doc.configFile],
      ]),
      shards ? h('div', {}, h('div', { class: 'group-label', text: 'Merged from shards' }), shards) : null,
      h('div', { class: 'group-label', text: 'Config' }), h('pre', { id: 'config', text: JSON.stringify(doc.config, null, 2) }));
  }

  function reveal() {
    const id = decodeURIComponent(location.hash.slice(1));
    if (!id) return;
    const target = document.getElementById(id);
    if (!target) return;
    if (target.classList.contains('hidden')) resetFilters();
    if (target.tagName === 'DETAILS') target.open = true;
    target.scrollIntoView({ block: 'start' });
  }

  const main = document.getElementById('app');
  main.textContent = '';
  main.append(summarySection(), filterBar(), requirementSection(), testSection(), identitySection(), profileSection(), runSection());
  apply();
  window.addEventListener('hashchange', reveal);
  reveal();
  document.documentElement.dataset.ready = 'true';
})();
`;
