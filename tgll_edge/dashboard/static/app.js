// TGLL Edge live dashboard. Plain JS, no build step, no CDN. Not a medical device.
'use strict';
(function () {
  const $ = (id) => document.getElementById(id);
  const LEADS = ['I', 'II', 'III', 'aVR', 'aVL', 'aVF', 'V1', 'V2', 'V3', 'V4', 'V5', 'V6'];
  const GRID = [['I', 'aVR', 'V1', 'V4'], ['II', 'aVL', 'V2', 'V5'], ['III', 'aVF', 'V3', 'V6']];
  const SECONDS = 10, MM_PER_S = 25, MM_PER_MV = 10;
  const token = new URLSearchParams(location.search).get('token');

  // Everything the page knows; exposed as window.tgll for tests and for curious people.
  const S = {
    meta: null, fs: 0, L: 0, buf: null, kEnd: 0, findings: [], gaps: [], events: [], live: null,
    lastSeq: 0, lastFrame: null, frames: 0, snapshots: 0, missed: 0, renders: 0, drawn: {},
    connected: false, dirty: true, rows12: false, snapshotBytes: 0,
  };
  window.tgll = S;

  // ---- frames ------------------------------------------------------------------------
  function initBuf(fs) {
    S.fs = fs; S.L = Math.max(1, Math.round(SECONDS * fs)); S.kEnd = 0;
    S.buf = LEADS.map(() => new Float32Array(S.L).fill(NaN));
  }

  function applySig(sig) {
    if (!sig) return;
    if (!S.buf || sig.fs !== S.fs || sig.reset) { initBuf(sig.fs); S.kEnd = sig.k0; }
    const L = S.L, k0 = sig.k0, n = sig.n;
    if (k0 > S.kEnd) {  // samples that never came
      for (let k = Math.max(S.kEnd, k0 - L); k < k0; k++) for (const b of S.buf) b[k % L] = NaN;
    }
    // int16 microvolts, little-endian, lead after lead, base64; sig.missing marks samples that never came
    const bin = atob(sig.i16), bytes = new Uint8Array(bin.length);
    for (let i = 0; i < bin.length; i++) bytes[i] = bin.charCodeAt(i);
    const view = new DataView(bytes.buffer), missing = sig.missing;
    const j0 = Math.max(0, n - L);
    for (let i = 0; i < 12; i++) {
      const b = S.buf[i], off = i * n * 2;
      for (let j = j0; j < n; j++) {
        const v = view.getInt16(off + 2 * j, true);
        b[(k0 + j) % L] = v === missing ? NaN : v / 1000;
      }
    }
    S.kEnd = Math.max(S.kEnd, k0 + n);
  }

  function addEvents(list, into, max) {
    for (const e of list || []) { if (e.n > S.lastSeq || into === null) into.push(e); }
    while (into.length > max) into.shift();
  }

  function onFrame(f) {
    S.frames++;
    if (f.type === 'snapshot') {
      S.snapshots++;
      S.meta = f.meta || S.meta;
      S.findings = []; S.gaps = []; S.events = [];
      S.buf = null;
      applySig(f.sig);
      S.findings = (f.findings || []).slice(-60);
      S.gaps = (f.gaps || []).slice(-200);
      for (const e of [].concat(f.status || [], f.gaps || []).sort((a, b) => a.n - b.n)) logEvent(e);
      S.lastSeq = f.seq; S.lastFrame = f.frame;
    } else {
      if (S.lastFrame !== null && f.frame > S.lastFrame + 1) S.missed += f.frame - S.lastFrame - 1;
      S.lastFrame = Math.max(S.lastFrame || 0, f.frame);
      if (f.meta) S.meta = f.meta;
      applySig(f.sig);
      const fresh = (l) => (l || []).filter((e) => e.n > S.lastSeq);
      const fi = fresh(f.findings), ga = fresh(f.gaps), st = fresh(f.status);
      S.findings.push(...fi); if (S.findings.length > 60) S.findings.splice(0, S.findings.length - 60);
      S.gaps.push(...ga); if (S.gaps.length > 200) S.gaps.splice(0, S.gaps.length - 200);
      for (const e of [].concat(st, ga).sort((a, b) => a.n - b.n)) logEvent(e);
      S.lastSeq = Math.max(S.lastSeq, f.seq);
    }
    S.live = f.live || S.live;
    S.dirty = true;
    schedule();
  }

  function logEvent(e) {
    let text;
    if (e.type === 'gap') text = `gap at ${e.t.toFixed(2)} s: ${e.missing_samples} samples (${(e.t_end - e.t).toFixed(3)} s) lost, ${e.cause}`;
    else text = `${e.kind}: ${e.message}`;
    S.events.push({ cls: e.type, text });
    if (S.events.length > 50) S.events.shift();
  }

  // ---- push channel --------------------------------------------------------------------
  let es = null;
  function connect() {
    es = new EventSource('events' + (token ? '?token=' + encodeURIComponent(token) : ''));
    es.onopen = () => { S.connected = true; S.dirty = true; schedule(); };
    es.onerror = () => { S.connected = false; S.dirty = true; schedule(); };
    es.onmessage = (ev) => { try { onFrame(JSON.parse(ev.data)); } catch (err) { console.error(err); } };
  }

  // ---- drawing ---------------------------------------------------------------------------
  let pending = false;
  function schedule() {
    if (pending) return;
    pending = true;
    requestAnimationFrame(() => { pending = false; if (S.dirty) { S.dirty = false; render(); } });
  }

  function panels() {
    const out = [];
    if (S.rows12) {
      const h = 15;
      LEADS.forEach((lead, r) => out.push({ lead, x: 0, y: r * h, w: 250, h, f0: 0, f1: 1 }));
      return { hmm: 12 * h, panels: out };
    }
    const h = 27.5;
    GRID.forEach((row, r) => row.forEach((lead, c) =>
      out.push({ lead, x: c * 62.5, y: r * h, w: 62.5, h, f0: c / 4, f1: (c + 1) / 4 })));
    out.push({ lead: 'II', x: 0, y: 3 * h, w: 250, h, f0: 0, f1: 1, rhythm: true });
    return { hmm: 4 * h, panels: out };
  }

  // the paper (1 mm minor, 5 mm major grid) is drawn once per size, then copied
  const paperCache = {};
  function paper(w, h, widthCss, hCss, hmm, pxmm, dpr) {
    const key = `${w}x${h}`;
    if (paperCache[key]) return paperCache[key];
    const c = document.createElement('canvas'); c.width = w; c.height = h;
    const ctx = c.getContext('2d');
    ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
    ctx.fillStyle = '#fffafa'; ctx.fillRect(0, 0, widthCss, hCss);
    const grid = (step, color) => {
      ctx.beginPath();
      for (let x = 0; x <= 250 + 1e-6; x += step) { const px = Math.round(x * pxmm) + 0.5; ctx.moveTo(px, 0); ctx.lineTo(px, hCss); }
      for (let y = 0; y <= hmm + 1e-6; y += step) { const py = Math.round(y * pxmm) + 0.5; ctx.moveTo(0, py); ctx.lineTo(widthCss, py); }
      ctx.strokeStyle = color; ctx.lineWidth = 1; ctx.stroke();
    };
    if (pxmm >= 2.5) grid(1, '#f7d4d4');
    grid(5, '#eaa0a0');
    for (const k of Object.keys(paperCache)) delete paperCache[k];
    paperCache[key] = c;
    return c;
  }

  // DOM updates only when the text changed (no layout work for identical content)
  const html = (el, s) => { if (el._html !== s) { el._html = s; el.innerHTML = s; } };
  const text = (el, s) => { if (el.textContent !== s) el.textContent = s; };

  const STATE_COLOR = { attached: '#1d2430', 'lead-off': '#c62828', flat: '#b26a00', saturated: '#6a1b9a', unused: '#90a4ae' };

  function drawECG(canvas, widthCss) {
    const lay = panels();
    const dpr = window.devicePixelRatio || 1;
    const pxmm = widthCss / 250;
    const hCss = Math.round(lay.hmm * pxmm);
    if (canvas.width !== Math.round(widthCss * dpr) || canvas.height !== Math.round(hCss * dpr)) {
      canvas.width = Math.round(widthCss * dpr); canvas.height = Math.round(hCss * dpr);
      canvas.style.height = hCss + 'px';
    }
    const ctx = canvas.getContext('2d');
    ctx.setTransform(1, 0, 0, 1, 0, 0);
    ctx.drawImage(paper(canvas.width, canvas.height, widthCss, hCss, lay.hmm, pxmm, dpr), 0, 0);
    ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
    const states = (S.live && S.live.leads) || {};
    const drawn = {};
    LEADS.forEach((l) => { drawn[l] = 0; });
    let gapBands = 0;
    if (S.buf) {
      const L = S.L, fs = S.fs, kStart = S.kEnd - L;
      const li = {}; LEADS.forEach((l, i) => { li[l] = i; });
      for (const p of lay.panels) {
        const st = states[p.lead] || 'attached';
        const x0 = p.x * pxmm, yc = (p.y + p.h / 2) * pxmm;
        const j0 = Math.round(p.f0 * L), j1 = Math.round(p.f1 * L);
        if (st === 'lead-off') { ctx.fillStyle = 'rgba(198,40,40,0.10)'; ctx.fillRect(x0, p.y * pxmm, p.w * pxmm, p.h * pxmm); }
        // gaps: shaded, and the trace is broken there (NaN samples)
        ctx.fillStyle = 'rgba(198,40,40,0.22)';
        for (const g of S.gaps) {
          const a = Math.max(g.t * fs, kStart + j0), b = Math.min(g.t_end * fs, kStart + j1);
          if (b < a) continue;
          const xa = x0 + (a - kStart - j0) / fs * MM_PER_S * pxmm, xb = x0 + (b - kStart - j0) / fs * MM_PER_S * pxmm;
          ctx.fillRect(xa, p.y * pxmm, Math.max(2, xb - xa), p.h * pxmm);
          gapBands++;
          if (p.rhythm || (S.rows12 && p.lead === 'V6')) {
            ctx.save(); ctx.fillStyle = '#c62828'; ctx.font = 'bold 11px system-ui, sans-serif';
            ctx.fillText('gap', xa + 3, (p.y + p.h) * pxmm - 4); ctx.restore();
          }
        }
        const b = S.buf[li[p.lead]];
        ctx.save();
        ctx.beginPath(); ctx.rect(x0, p.y * pxmm, p.w * pxmm, p.h * pxmm); ctx.clip();
        ctx.beginPath();
        let pen = false, n = 0;
        const sx = MM_PER_S * pxmm / fs, sy = MM_PER_MV * pxmm;
        for (let j = j0; j < j1; j++) {
          const k = kStart + j;
          const v = k < 0 ? NaN : b[k % L];
          if (v !== v) { pen = false; continue; }
          const x = x0 + (j - j0) * sx, y = yc - v * sy;
          if (pen) ctx.lineTo(x, y); else { ctx.moveTo(x, y); pen = true; }
          n++;
        }
        ctx.strokeStyle = st === 'lead-off' ? '#c62828' : '#111'; ctx.lineWidth = 1.1; ctx.stroke();
        ctx.restore();
        drawn[p.lead] += n;
        ctx.fillStyle = STATE_COLOR[st] || '#1d2430';
        ctx.font = 'bold 12px system-ui, sans-serif';
        ctx.fillText(p.lead + (st !== 'attached' ? ' ' + st : ''), x0 + 4, p.y * pxmm + 13);
        if (!p.rhythm && p.x > 0) { ctx.fillStyle = '#333'; ctx.fillRect(x0, yc - 4, 1.5, 8); }
      }
      const t1 = S.kEnd / fs;
      text($('devtime'), String(`device time ${Math.max(0, t1 - SECONDS).toFixed(1)} - ${t1.toFixed(1)} s`));
    } else {
      ctx.fillStyle = '#6b7280'; ctx.font = '14px system-ui, sans-serif';
      ctx.fillText('waiting for signal...', 12, 24);
    }
    S.gapBands = gapBands;
    return drawn;
  }

  function fmt(v, digits) {
    if (v === null || v === undefined) return '-';
    if (typeof v === 'number') return digits !== undefined ? v.toFixed(digits) : v.toLocaleString('en-US');
    return String(v);
  }

  function clock(s) {
    s = Math.floor(s); const h = Math.floor(s / 3600), m = Math.floor(s / 60) % 60, r = s % 60;
    return (h ? h + ':' : '') + String(m).padStart(2, '0') + ':' + String(r).padStart(2, '0');
  }

  function renderFindings() {
    const box = $('findings'), f = S.findings[S.findings.length - 1], meta = S.meta || {};
    if (!f) return;
    text($('win-time'), String(`window ${f.t_start.toFixed(1)} - ${f.t_end.toFixed(1)} s`));
    const q = f.quality || {};
    if (q.skipped) {
      html(box, '<div class="skipped">window skipped by the quality gate: ' +
        (q.reasons || []).join('; ').replace(/</g, '&lt;') + '</div>');
    } else {
      const labels = meta.labels && meta.labels.length ? meta.labels : Object.keys(f.probabilities);
      const rows = [];
      labels.forEach((lab, i) => {
        const p = f.probabilities[lab] || 0, thr = (meta.thresholds || [])[i];
        const pos = (f.labels || []).indexOf(lab) >= 0;
        rows.push(`<div class="row${pos ? ' pos' : ''}" data-label="${lab}"><span class="name">${lab}</span>` +
          `<span class="bar"><span class="fill" style="width:${(p * 100).toFixed(1)}%"></span>` +
          (thr !== undefined ? `<span class="thr" style="left:calc(${(thr * 100).toFixed(1)}% - 1px)" title="threshold ${thr.toFixed(2)}"></span>` : '') +
          `</span><span class="val">${p.toFixed(2)}</span></div>`);
      });
      html(box, rows.join(''));
    }
    const extra = [];
    if (typeof f.heart_rate_bpm === 'number') {
      extra.push(`HR ${f.heart_rate_bpm.toFixed(0)} bpm`);
      if (typeof f.rr_ms === 'number') extra.push(`RR ${f.rr_ms.toFixed(0)} ms`);
      if (typeof f.rmssd_ms === 'number') extra.push(`RMSSD ${f.rmssd_ms.toFixed(0)} ms`);
    }
    if (typeof q.sqi === 'number') extra.push(`SQI ${q.sqi.toFixed(2)}`);
    if (f.bridged_gaps) extra.push(`${f.bridged_gaps} short gap(s) bridged for the model (${f.bridged_ms} ms)`);
    text($('quality'), (q.ok ? 'quality ok' : 'quality: ' + (q.flags || []).join(', ')) +
      (extra.length ? ' | ' + extra.join(', ') : ''));
    text($('latency'), String(fmt(f.latency_ms, 1) + ' ms'));
  }

  function renderLeads() {
    const live = S.live || {};
    const leads = live.leads || {};
    html($('leads'), LEADS.map((l) => `<span class="chip ${leads[l] || 'attached'}" data-lead="${l}" title="${leads[l] || 'attached'}">${l}</span>`).join(''));
    const ch = live.channels || [], mask = live.lead_off_mask || 0;
    html($('electrodes'), ch.length ? ch.map((c, i) => {
      const off = (mask >> i) & 1;
      return `<span class="chip ${off ? 'lead-off' : 'attached'}" data-channel="${c}" title="${off ? 'lead-off' : 'attached'}">${c}</span>`;
    }).join('') : '<span class="dim">no device data yet</span>');
    text($('leads-used'), String(live.leads_used ? 'leads used by the model: ' + live.leads_used.join(', ') : ''));
  }

  function renderLink() {
    const live = S.live || {}, c = live.counters || {}, d = live.device || {};
    for (const k of ['packets', 'bytes', 'crc_errors', 'dropped_bytes', 'gaps', 'missing_samples', 'windows', 'skipped_windows']) {
      const el = $('c-' + k); if (!el) continue;
      text(el, fmt(c[k]));
      el.classList.toggle('bad', ['crc_errors', 'dropped_bytes', 'gaps', 'missing_samples', 'skipped_windows'].indexOf(k) >= 0 && c[k] > 0);
    }
    text($('c-device_seconds'), String(c.device_seconds !== undefined ? fmt(c.device_seconds, 1) + ' s' : '-'));
    text($('d-device_id'), String(fmt(d.device_id || null)));
    text($('d-firmware'), String(fmt(d.firmware || null)));
    text($('d-fs'), String(d.fs ? d.fs + ' Hz' : (live.device_fs ? live.device_fs + ' Hz' : '-')));
    text($('d-uv_per_count'), String(d.uv_per_count ? Number(d.uv_per_count).toPrecision(4) : '-'));
    text($('uptime'), String(live.uptime_s !== undefined ? 'uptime ' + clock(live.uptime_s) : ''));
    text($('frames'), String(fmt(S.frames)));
    text($('missed'), String(fmt(S.missed)));
    const conn = $('conn');
    if (live.ended) { conn.textContent = 'stream ended'; conn.className = 'pill ended'; }
    else if (S.connected) { conn.textContent = 'live'; conn.className = 'pill on'; }
    else { conn.textContent = 'disconnected'; conn.className = 'pill off'; }
    const m = S.meta || {};
    text($('model'), String(m.model ? `model ${m.model} (${m.artifact}), ${m.window_s} s windows every ${m.hop_s} s` : ''));
  }

  function drawTimeline(canvas, widthCss) {
    const meta = S.meta || {}, labels = meta.labels || [], thr = meta.thresholds || [];
    const rowH = 14, left = 70, N = 60;
    const hCss = Math.max(1, labels.length) * rowH + 18;
    const dpr = window.devicePixelRatio || 1;
    if (canvas.width !== Math.round(widthCss * dpr) || canvas.height !== Math.round(hCss * dpr)) {
      canvas.width = Math.round(widthCss * dpr); canvas.height = Math.round(hCss * dpr); canvas.style.height = hCss + 'px';
    }
    const ctx = canvas.getContext('2d');
    ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
    ctx.fillStyle = '#fff'; ctx.fillRect(0, 0, widthCss, hCss);
    ctx.font = '11px system-ui, sans-serif';
    labels.forEach((lab, r) => { ctx.fillStyle = '#1d2430'; ctx.fillText(lab, 4, r * rowH + 11); });
    const list = S.findings.slice(-N), w = (widthCss - left) / N;
    list.forEach((f, c) => {
      const x = left + (N - list.length + c) * w;
      labels.forEach((lab, r) => {
        const y = r * rowH;
        if (f.quality && f.quality.skipped) { ctx.fillStyle = '#cfd4da'; ctx.fillRect(x + 0.5, y + 1, w - 1, rowH - 2); return; }
        const p = f.probabilities[lab] || 0;
        ctx.fillStyle = `rgba(43,89,195,${(0.08 + 0.92 * p).toFixed(3)})`;
        ctx.fillRect(x + 0.5, y + 1, w - 1, rowH - 2);
        if (thr[r] !== undefined && p >= thr[r]) { ctx.strokeStyle = '#c62828'; ctx.lineWidth = 2; ctx.strokeRect(x + 1.5, y + 2, w - 3, rowH - 4); }
      });
    });
    if (list.length) {
      ctx.fillStyle = '#6b7280';
      ctx.fillText(`${list[0].t_start.toFixed(0)} s`, left + (N - list.length) * w, hCss - 4);
      const last = list[list.length - 1];
      const t = `${last.t_end.toFixed(0)} s`;
      ctx.fillText(t, widthCss - ctx.measureText(t).width - 2, hCss - 4);
    }
  }

  function renderEvents() {
    html($('events'), S.events.slice().reverse().map((e) => `<li class="${e.cls}">${e.text.replace(/</g, '&lt;')}</li>`).join(''));
  }

  function render() {
    S.renders++;
    const ecg = $('ecg');
    try { S.drawn = drawECG(ecg, ecg.clientWidth || 800); } catch (err) { S.errors = (S.errors || 0) + 1; console.error(err); }
    const tl = $('timeline');
    const last = S.findings[S.findings.length - 1];
    const nLabels = S.meta && S.meta.labels ? S.meta.labels.length : 0;
    const tlKey = `${last ? last.n : 0}:${S.findings.length}:${tl.clientWidth}:${nLabels}`;
    // each part on its own: one that fails (an unexpected field) leaves the others live
    for (const part of [() => { if (tlKey !== S.tlKey) { S.tlKey = tlKey; drawTimeline(tl, tl.clientWidth || 800); } },
      renderFindings, renderLeads, renderLink, renderEvents]) {
      try { part(); } catch (err) { S.errors = (S.errors || 0) + 1; console.error(err); }
    }
  }

  // ---- snapshot: the current 10 s and the findings, as a PNG ----------------------------------
  function snapshot() {
    const W = 1500, pad = 16;
    const ecg = document.createElement('canvas');
    const saveDpr = window.devicePixelRatio;
    drawECG(ecg, W);
    const f = S.findings[S.findings.length - 1], meta = S.meta || {}, live = S.live || {}, d = live.device || {};
    const lines = [];
    const t1 = S.fs ? S.kEnd / S.fs : 0;
    lines.push(`TGLL Edge snapshot  ${new Date().toISOString()}   device time ${Math.max(0, t1 - SECONDS).toFixed(1)} - ${t1.toFixed(1)} s   25 mm/s, 10 mm/mV`);
    lines.push(`device ${d.device_id || '?'} firmware ${d.firmware || '?'} ${d.fs || '?'} Hz   model ${meta.model || '?'} (${meta.artifact || '?'})`);
    if (f) {
      if (f.quality && f.quality.skipped) lines.push(`window ${f.t_start.toFixed(1)}-${f.t_end.toFixed(1)} s skipped: ${(f.quality.reasons || []).join('; ')}`);
      else lines.push(`window ${f.t_start.toFixed(1)}-${f.t_end.toFixed(1)} s  findings: ${(f.labels || []).length ? f.labels.join(', ') : 'none above threshold'}   ` +
        (meta.labels || Object.keys(f.probabilities)).map((l, i) => `${l} ${(f.probabilities[l] || 0).toFixed(2)}${meta.thresholds ? '/' + meta.thresholds[i].toFixed(2) : ''}`).join('  '));
    }
    const states = live.leads || {};
    const bad = LEADS.filter((l) => states[l] && states[l] !== 'attached').map((l) => `${l} ${states[l]}`);
    lines.push('leads: ' + (bad.length ? bad.join(', ') : 'all attached'));
    const lh = 20, head = pad + lines.length * lh + 6, foot = 30;
    const out = document.createElement('canvas');
    const ew = ecg.width / (saveDpr || 1), eh = ecg.height / (saveDpr || 1);
    out.width = W + 2 * pad; out.height = head + eh + foot;
    const ctx = out.getContext('2d');
    ctx.fillStyle = '#fff'; ctx.fillRect(0, 0, out.width, out.height);
    ctx.fillStyle = '#1d2430'; ctx.font = '15px system-ui, sans-serif';
    lines.forEach((t, i) => ctx.fillText(t, pad, pad + 12 + i * lh));
    ctx.drawImage(ecg, pad, head, ew, eh);
    ctx.fillStyle = '#c62828'; ctx.font = 'bold 14px system-ui, sans-serif';
    ctx.fillText('NOT A MEDICAL DEVICE: research display only; not for diagnosis, monitoring or treatment.', pad, head + eh + 20);
    out.toBlob((blob) => {
      S.snapshotBytes = blob ? blob.size : 0;
      if (!blob) return;
      const a = document.createElement('a');
      a.href = URL.createObjectURL(blob);
      a.download = `tgll-snapshot-${t1.toFixed(0)}s.png`;
      document.body.appendChild(a); a.click(); a.remove();
      setTimeout(() => URL.revokeObjectURL(a.href), 10000);
    }, 'image/png');
  }

  $('snapshot').addEventListener('click', snapshot);
  $('rows12').addEventListener('change', (e) => { S.rows12 = e.target.checked; S.dirty = true; schedule(); });
  window.addEventListener('resize', () => { S.dirty = true; schedule(); });
  connect();
  schedule();
})();
