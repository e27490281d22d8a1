import { createHash } from 'node:crypto';

/**
 * The console's stylesheet and its two small scripts, served as files from `/console/assets/` so
 * the console's CSP can say `script-src 'self'; style-src 'self'` with no inline code at all. They
 * live in this module rather than on disk so the compiled CLI carries them without a copy step.
 * Every page works without the scripts: they only make the preview follow typing and the progress
 * move without a reload.
 */

const CSS = `
*,*::before,*::after{box-sizing:border-box}
html{-webkit-text-size-adjust:100%}
body{margin:0;background:#f3f4f8;color:#1d2433;
 font:15px/1.55 -apple-system,BlinkMacSystemFont,"Segoe UI",Roboto,"Helvetica Neue",Arial,"PingFang SC","Hiragino Sans GB","Noto Sans CJK SC","Noto Sans SC","Microsoft YaHei",sans-serif}
a{color:#2946b8}
.skip{position:absolute;left:-10000px}
.skip:focus{left:8px;top:8px;background:#fff;padding:8px 12px;border-radius:6px;z-index:10}
header.top{background:#1d2433;color:#fff;padding:10px 16px;display:flex;flex-wrap:wrap;gap:8px 18px;align-items:center}
header.top .brand{font-weight:700;margin-right:8px;color:#fff;text-decoration:none}
header.top nav{display:flex;flex-wrap:wrap;gap:4px 14px;flex:1;min-width:0}
header.top nav a{color:#dfe5ff;text-decoration:none;padding:6px 2px;display:inline-block;min-height:32px}
header.top nav a[aria-current=page]{color:#fff;border-bottom:2px solid #8fa6ff}
header.top form{margin:0}
header.top button{background:transparent;color:#dfe5ff;border:1px solid #56608a;padding:6px 12px;width:auto}
.lang{font-size:13px;color:#c7cde6}
.lang a{color:#dfe5ff;margin-left:6px}
main{max-width:1200px;margin:0 auto;padding:20px 16px 48px}
h1{font-size:24px;line-height:1.25;margin:4px 0 16px;overflow-wrap:anywhere}
h2{font-size:18px;margin:24px 0 10px}
.card{background:#fff;border-radius:12px;padding:18px 18px;margin:0 0 18px;box-shadow:0 1px 2px rgba(16,24,40,.06),0 6px 18px rgba(16,24,40,.06);min-width:0}
.grid{display:grid;grid-template-columns:repeat(auto-fit,minmax(280px,1fr));gap:18px}
.table-wrap{overflow-x:auto}
table{border-collapse:collapse;width:100%;font-size:14px}
th,td{text-align:left;padding:8px 10px;border-bottom:1px solid #e4e7ee;vertical-align:top;overflow-wrap:anywhere}
th{font-weight:600;color:#4a5368;font-size:13px}
td.num,th.num{text-align:right;font-variant-numeric:tabular-nums;white-space:nowrap}
.badge{display:inline-block;padding:1px 8px;border-radius:999px;font-size:12px;font-weight:600;background:#e8ecf8;color:#2e3a63}
.badge.sending{background:#fff3d6;color:#7a4b00}.badge.sent{background:#dcf5e6;color:#135c34}
.badge.paused{background:#ffe6e1;color:#8f1f10}.badge.cancelled{background:#eceef2;color:#4a5368}
.muted{color:#5b6478}
.field{margin:0 0 14px}
label{display:block;font-weight:600;margin:0 0 5px}
label .opt{font-weight:400;color:#5b6478}
input[type=email],input[type=text],input[type=search],input[type=number],input[type=datetime-local],select,textarea{
 width:100%;padding:9px 11px;font:inherit;color:inherit;background:#fff;border:1px solid #b9bfcc;border-radius:8px}
textarea{min-height:360px;font-family:SFMono-Regular,Menlo,Consolas,"Liberation Mono",monospace;font-size:13px;line-height:1.5}
input:focus,select:focus,textarea:focus{outline:none;border-color:#3557d6;box-shadow:0 0 0 3px rgba(53,87,214,.2)}
.hint{margin:5px 0 0;font-size:13px;color:#5b6478}
.check{display:flex;gap:8px;align-items:center;font-weight:400}
button{display:inline-block;padding:10px 16px;min-height:40px;font:inherit;font-weight:600;color:#fff;background:#3557d6;border:0;border-radius:8px;cursor:pointer}
button:hover{background:#2946b8}
button:focus-visible,a:focus-visible{outline:3px solid rgba(53,87,214,.5);outline-offset:2px}
button.danger{background:#b42318}button.danger:hover{background:#912018}
button.quiet{background:#fff;color:#2946b8;border:1px solid #b9bfcc}
.actions{display:flex;flex-wrap:wrap;gap:10px;align-items:flex-end}
.actions form{margin:0}
.spaced{margin-top:14px}
.inline{display:flex;flex-wrap:wrap;gap:10px;align-items:flex-end}
.inline .field{flex:1;min-width:180px;margin:0}
.error{background:#fff4f2;border:1px solid #f1c5bf;color:#912018;border-radius:8px;padding:10px 14px;margin:0 0 16px;overflow-wrap:anywhere}
.notice{background:#eefbf3;border:1px solid #b7e4c7;color:#135c34;border-radius:8px;padding:10px 14px;margin:0 0 16px}
.warn{color:#7a4b00}
.editor{display:grid;grid-template-columns:minmax(0,1fr) minmax(0,1fr);gap:18px}
.frames{display:flex;flex-wrap:wrap;gap:14px;align-items:flex-start}
.frame figure{margin:0}
.frame figcaption{font-size:12px;color:#5b6478;margin:0 0 4px}
.frame iframe{display:block;border:1px solid #c5cad6;border-radius:8px;background:#fff;height:640px}
.frame.desktop iframe{width:600px}
.frame.phone iframe{width:375px}
.inbox{border:1px solid #e4e7ee;border-radius:8px;padding:10px 12px;margin:0 0 12px;background:#fafbfd}
.inbox .subject{font-weight:600;overflow-wrap:anywhere}
.inbox .pre{color:#5b6478;overflow-wrap:anywhere}
dl.facts{display:grid;grid-template-columns:max-content minmax(0,1fr);gap:4px 14px;margin:0}
dl.facts dt{color:#5b6478}dl.facts dd{margin:0;overflow-wrap:anywhere}
progress{width:100%;height:14px}
.counts{display:grid;grid-template-columns:repeat(auto-fill,minmax(120px,1fr));gap:8px;margin:10px 0 0}
.counts div{background:#f5f6fa;border-radius:8px;padding:8px 10px}
.counts b{display:block;font-size:20px;font-variant-numeric:tabular-nums}
.counts span{font-size:12px;color:#5b6478}
.login{max-width:440px;margin:40px auto}
@media (max-width:900px){.editor{grid-template-columns:minmax(0,1fr)}}
@media (max-width:640px){
 main{padding:14px 10px 40px}
 .frame.desktop iframe{width:100%;max-width:600px}
 .frame.phone iframe{width:100%;max-width:375px}
 .frames,.frame{width:100%}
 header.top{padding:8px 10px}
 header.top nav{order:3;flex-basis:100%;gap:2px 12px}
 header.top .lang{margin-left:auto}
}
`;

/** Live preview on the new-issue page: posts the Markdown, then points the frames at the result. */
const PREVIEW_JS = `'use strict';
(function () {
  var form = document.getElementById('issue-form');
  var source = document.getElementById('markdown');
  if (!form || !source) return;
  var timer = null;
  var seq = 0;
  function text(id, value) { var el = document.getElementById(id); if (el) el.textContent = value; }
  function refresh() {
    var mine = ++seq;
    var body = new URLSearchParams();
    body.set('markdown', source.value);
    var list = document.getElementById('list');
    if (list) body.set('list', list.value);
    body.set('_csrf', form.querySelector('input[name=_csrf]').value);
    fetch('/console/preview', { method: 'POST', body: body, headers: { accept: 'application/json' }, credentials: 'same-origin' })
      .then(function (r) { return r.json(); })
      .then(function (p) {
        if (mine !== seq) return;
        var problem = document.getElementById('preview-error');
        if (p.error) { problem.hidden = false; problem.textContent = p.error; return; }
        problem.hidden = true;
        document.querySelectorAll('iframe[data-scheme]').forEach(function (f) {
          f.src = p.frame + '?scheme=' + f.getAttribute('data-scheme');
        });
        text('pv-from', p.from); text('pv-subject', p.subject); text('pv-preheader', p.preheader);
        text('pv-items', String(p.items)); text('pv-size', p.size);
        var list = document.getElementById('pv-warnings');
        list.textContent = '';
        p.warnings.forEach(function (w) { var li = document.createElement('li'); li.textContent = w; list.appendChild(li); });
        text('pv-nowarnings', p.warnings.length ? '' : p.noWarnings);
      })
      .catch(function () {});
  }
  source.addEventListener('input', function () { clearTimeout(timer); timer = setTimeout(refresh, 500); });
  var list = document.getElementById('list');
  if (list) list.addEventListener('change', refresh);
})();
`;

/** Live counts on an issue page: server-sent events while the issue sends. */
const LIVE_JS = `'use strict';
(function () {
  var root = document.querySelector('[data-events]');
  if (!root || !window.EventSource) return;
  var source = new EventSource(root.getAttribute('data-events'));
  var status = root.getAttribute('data-status');
  source.onmessage = function (e) {
    var data = JSON.parse(e.data);
    Object.keys(data.counts).forEach(function (k) {
      var el = root.querySelector('[data-count="' + k + '"]');
      if (el) el.textContent = String(data.counts[k]);
    });
    var bar = root.querySelector('progress');
    if (bar) { bar.max = Math.max(1, data.counts.total); bar.value = data.done; }
    var label = root.querySelector('[data-status-label]');
    if (label) label.textContent = data.statusLabel;
    if (data.status !== status) { source.close(); window.location.reload(); }
  };
})();
`;

export interface Asset {
  body: string;
  type: string;
  etag: string;
}

function asset(body: string, type: string): Asset {
  return { body, type, etag: `"${createHash('sha256').update(body).digest('base64url').slice(0, 16)}"` };
}

export const ASSETS: Record<string, Asset> = {
  'console.css': asset(CSS, 'text/css; charset=utf-8'),
  'preview.js': asset(PREVIEW_JS, 'text/javascript; charset=utf-8'),
  'live.js': asset(LIVE_JS, 'text/javascript; charset=utf-8'),
};
