// The operator console: charts of the server-side series, the pipeline, the waiting room, sale progress and seat
// map of one schedule, dead letters, and forms over the same admin API. No inline script, so a strict CSP holds.

const $ = (id) => document.getElementById(id)
const svgNs = 'http://www.w3.org/2000/svg'

function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag)
  for (const [k, v] of Object.entries(attrs)) {
    if (k.startsWith('on')) node.addEventListener(k.slice(2), v)
    else if (k === 'class') node.className = v
    else node.setAttribute(k, String(v))
  }
  for (const c of children.flat()) node.append(c instanceof Node ? c : document.createTextNode(String(c)))
  return node
}

async function api(path, options = {}) {
  const res = await fetch(path, {
    ...options,
    headers: {
      'x-admin-key': $('key').value,
      ...(options.body ? { 'content-type': 'application/json' } : {}),
      ...(options.headers ?? {}),
    },
  })
  const body = await res.json()
  if (!res.ok) throw new Error(`${body.code}: ${body.message}`)
  return body
}

const charts = [
  ['admissions', 'Admissions/s', (p) => p.admissionsPerSecond],
  ['queue', 'Queue length', (p) => p.queueLength],
  ['holds', 'Holds/s', (p) => p.holdsPerSecond],
  ['payments', 'Payments/s', (p) => p.paymentsPerSecond],
  ['conflicts', '409s/s', (p) => p.conflictsPerSecond],
  ['outbox', 'Outbox backlog', (p) => p.outboxBacklog],
  ['lag', 'Consumer lag by group', null],
  ['dead', 'Dead letters', (p) => p.deadLetters],
]

const WINDOW_MS = 15 * 60_000

/** x runs from the first sample kept (at most 15 minutes back) to now, so a young series fills the chart too. */
function drawChart(id, title, lines, now) {
  const first = Math.min(now - 1000, ...lines.flatMap((l) => l.values.map((v) => v.at)))
  const from = Math.max(now - WINDOW_MS, first)
  const span = now - from
  let box = $(`chart-${id}`)
  if (!box) {
    box = el('figure', { class: 'chart', id: `chart-${id}` })
    $('charts').append(box)
  }
  const max = Math.max(1, ...lines.flatMap((l) => l.values.map((v) => v.y)))
  const svg = document.createElementNS(svgNs, 'svg')
  svg.setAttribute('viewBox', '0 0 300 100')
  svg.setAttribute('preserveAspectRatio', 'none')
  svg.setAttribute('role', 'img')
  const last = lines[0]?.values.at(-1)?.y ?? 0
  svg.setAttribute('aria-label', `${title}: now ${last}, peak ${max} in the last 15 minutes`)
  const axis = document.createElementNS(svgNs, 'line')
  for (const [k, v] of Object.entries({ x1: 0, y1: 99, x2: 300, y2: 99, class: 'axis' }))
    axis.setAttribute(k, v)
  svg.append(axis)
  lines.forEach((line, i) => {
    const poly = document.createElementNS(svgNs, 'polyline')
    poly.setAttribute('class', `s${i}`)
    poly.setAttribute(
      'points',
      line.values
        .map((v) => `${(((v.at - from) / span) * 300).toFixed(1)},${(98 - (v.y / max) * 94).toFixed(1)}`)
        .join(' '),
    )
    svg.append(poly)
  })
  const points = lines.reduce((n, l) => n + l.values.length, 0)
  box.dataset.points = String(points)
  box.dataset.last = String(last)
  box.dataset.peak = String(max)
  box.dataset.nonzero = String(lines.reduce((n, l) => n + l.values.filter((v) => v.y > 0).length, 0))
  box.replaceChildren(
    el('h3', {}, el('span', {}, title), el('span', { class: 'now' }, String(last))),
    svg,
    lines.length > 1 || lines[0]?.name
      ? el(
          'figcaption',
          { class: 'legend' },
          lines.map((l, i) => `${i ? ' · ' : ''}${l.name}`),
        )
      : '',
  )
}

async function drawSeries() {
  const { points } = await api('/admin/ops/series')
  const now = Date.now()
  const values = (pick, of = points) => of.map((p) => ({ at: Date.parse(p.at), y: pick(p) }))
  for (const [id, title, pick] of charts) {
    if (pick) {
      drawChart(id, title, [{ name: '', values: values(pick) }], now)
      continue
    }
    // lag: the four groups with the highest peak in the window; points where it could not be read are left out
    const known = points.filter((p) => !p.lagUnknown)
    const groups = new Map()
    for (const p of known)
      for (const [g, n] of Object.entries(p.lag)) groups.set(g, Math.max(groups.get(g) ?? 0, n))
    const top = [...groups.entries()]
      .sort((a, b) => b[1] - a[1])
      .slice(0, 4)
      .map(([g]) => g)
    drawChart(
      id,
      title,
      top.length
        ? top.map((g) => ({ name: g, values: values((p) => p.lag[g] ?? 0, known) }))
        : [{ name: '', values: values(() => 0, known) }],
      now,
    )
    if (points.at(-1)?.lagUnknown) {
      const figure = $(`chart-${id}`).querySelector('.now')
      figure.textContent = 'unknown'
      figure.classList.add('bad')
    }
  }
}

async function drawPipeline() {
  const s = await api('/admin/ops/summary')
  const totalLag = s.lag.reduce((n, l) => n + l.lag, 0)
  $('pipeline').replaceChildren(
    'transport ',
    el('b', {}, s.transport),
    ` · outbox backlog `,
    el('b', {}, s.outbox.exact ? s.outbox.backlog : `≈ ${s.outbox.backlog}`),
    ` (oldest ${s.outbox.oldestAgeSeconds.toFixed(1)} s) · total lag `,
    // A partial reading (a broker just died) adds up what it could read: at least that much.
    s.lagUnknown
      ? el('b', { class: 'bad' }, `≥ ${totalLag}`)
      : s.lagUnavailable
        ? el('b', { class: 'bad' }, 'unknown')
        : el('b', {}, totalLag),
    ' · dead letters ',
    el('b', { class: s.deadLetters ? 'bad' : 'ok' }, s.deadLetters),
    // The answering instance's fans: while they keep it busy, the groups marked below hold their events back, until
    // the busy spell has lasted YIELD_TO_FANS_MS.
    ...(s.fans.busy
      ? [
          ' · ',
          el('b', {}, 'fans first'),
          ` (${s.fans.inFlight} fans' operations in flight: side effects ${s.fans.sideEffectsWait ? 'wait' : 'go on beside them'})`,
        ]
      : []),
  )
  const rows = s.lag
    .filter((l) => l.lag > 0)
    .map((l) =>
      el(
        'tr',
        {},
        el(
          'td',
          {},
          l.group,
          l.yieldsToFans
            ? [
                ' ',
                el(
                  'span',
                  { class: 'muted', title: 'waits while the fans keep the instance busy' },
                  'yields to fans',
                ),
              ]
            : [],
        ),
        el('td', {}, l.topic),
        el('td', {}, l.partition),
        el('td', {}, l.lag),
      ),
    )
  const row = (text, attributes = {}) => el('tr', {}, el('td', { colspan: 4, ...attributes }, text))
  // Why the lag is unknown, or read in part (then with what was read under it).
  const why = s.lagUnavailable
    ? [row(`${s.lagUnknown ? 'lag read in part' : 'lag unknown'}: ${s.lagUnavailable}`, { class: 'bad' })]
    : []
  const read = rows.length ? rows : [row(s.lagUnknown ? 'no lag where it was read' : 'no lag')]
  $('lag').tBodies[0].replaceChildren(...why, ...(s.lagUnavailable && !s.lagUnknown ? [] : read))
}

async function drawDeadLetters() {
  const dead = await api('/admin/dead-letters?status=dead&limit=100')
  const rows = dead.deadLetters.map((d) =>
    el(
      'tr',
      {},
      el('td', {}, d.group),
      el('td', {}, d.originalTopic),
      el('td', {}, d.attempts),
      el('td', {}, d.error.slice(0, 80)),
      el(
        'td',
        {},
        el('button', { type: 'button', onclick: () => showDeadLetter(d.id) }, 'Show'),
        ' ',
        el('button', { type: 'button', 'data-id': d.id, onclick: () => replay({ ids: [d.id] }) }, 'Replay'),
      ),
    ),
  )
  $('dead').tBodies[0].replaceChildren(
    ...(rows.length ? rows : [el('tr', {}, el('td', { colspan: 5 }, 'none'))]),
  )
}

async function showDeadLetter(id) {
  const d = await api(`/admin/dead-letters/${id}`)
  let payload = d.value
  try {
    payload = JSON.stringify(JSON.parse(d.value), null, 2)
  } catch {}
  $('dead-detail').replaceChildren(
    el('h3', {}, `${d.eventType ?? d.originalTopic} → ${d.group}`),
    el(
      'p',
      {},
      `${d.originalTopic}[${d.originalPartition}]@${d.originalOffset} · ${d.attempts} attempts · first ${d.firstFailedAt} · last ${d.lastFailedAt}`,
    ),
    el('pre', { class: 'error' }, d.error),
    el('pre', { class: 'payload' }, payload),
  )
}

async function replay(body) {
  try {
    const { replayed } = await api('/admin/dead-letters/replay', {
      method: 'POST',
      body: JSON.stringify(body),
    })
    $('status').textContent = `replayed ${replayed.length}`
  } catch (error) {
    $('status').replaceChildren(el('span', { class: 'bad' }, error.message))
  }
  refresh()
}

/** A bar segment; its width is set through CSSOM, which a CSP without 'unsafe-inline' allows. */
function bar(kind, width) {
  const span = el('span', { class: kind })
  span.style.width = width
  return span
}

async function drawSchedule(id) {
  // Fetched together, then drawn together: the progress line and the seat map of one refresh agree (drawn as each
  // answer came, the seat map lagged the line by two requests).
  const at = encodeURIComponent(id)
  const [q, s, list, seats] = await Promise.all([
    api(`/admin/schedules/${at}/queue`),
    api(`/schedules/${at}`),
    api(`/admin/schedules/${at}/waitlist`),
    api(`/schedules/${at}/seats`),
  ])
  $('queue').textContent =
    `${q.opened ? 'open' : 'not open yet'} · waiting ${q.waiting} · admitted now ${q.active} / ${q.maxActive} · ${q.admitPerSecond}/s · last in line waits ~${q.estimatedWaitForLastSeconds} s · completed ${q.completed} · left ${q.left}`
  const { total, sold, held, available } = s.seats
  const pct = (n) => `${total ? (n / total) * 100 : 0}%`
  $('progress').replaceChildren(
    el(
      'div',
      {
        class: 'bar',
        role: 'img',
        'aria-label': `sold ${sold}, held ${held}, free ${available} of ${total}`,
      },
      bar('sold', pct(sold)),
      bar('held', pct(held)),
    ),
    `sold ${sold} · held ${held} · free ${available} of ${total}`,
  )
  $('waitlist-counts').textContent = Object.entries(list.counts)
    .map(([status, n]) => `${status} ${n}`)
    .join(' · ')
  $('waitlist')
    .querySelector('tbody')
    .replaceChildren(
      ...list.entries
        .filter((e) => e.status === 'waiting' || e.status === 'offered')
        .slice(0, 50)
        .map((e) =>
          el(
            'tr',
            {},
            el('td', {}, e.position ?? ''),
            el('td', {}, e.userId),
            el('td', {}, e.status),
            el(
              'td',
              {},
              e.offer ? `${e.offer.seatLabel} until ${new Date(e.offer.expiresAt).toLocaleTimeString()}` : '',
            ),
          ),
        ),
    )
  $('seatmap').replaceChildren(
    el(
      'div',
      { class: 'seats' },
      seats.seats.map((x) =>
        el('div', { class: `seat ${x.status}`, title: `${x.label} ${x.status}` }, x.label),
      ),
    ),
  )
}

let busy = false
async function refresh() {
  if (busy || !$('key').value) return
  busy = true
  sessionStorage.setItem('adminKey', $('key').value)
  $('status').textContent = 'loading…'
  try {
    await drawPipeline()
    await drawSeries()
    await drawDeadLetters()
    const schedule = $('schedule').value.trim()
    if (schedule) await drawSchedule(schedule)
    $('status').textContent = `updated ${new Date().toLocaleTimeString()}`
  } catch (error) {
    $('status').replaceChildren(el('span', { class: 'bad' }, error.message))
  } finally {
    busy = false
  }
}

function formJson(form, names) {
  return Object.fromEntries(names.map((n) => [n, form.elements[n].value]))
}

async function submit(form, run) {
  const out = form.elements.result
  try {
    out.textContent = await run()
    out.className = 'ok'
  } catch (error) {
    out.textContent = error.message
    out.className = 'bad'
  }
}

$('new-concert').addEventListener('submit', (event) => {
  event.preventDefault()
  const form = event.target
  submit(form, async () => {
    const concert = await api('/admin/concerts', {
      method: 'POST',
      body: JSON.stringify(formJson(form, ['title', 'artist', 'venue'])),
    })
    $('new-schedule').elements.concertId.value = concert.id
    return `created ${concert.id}`
  })
})

$('new-schedule').addEventListener('submit', (event) => {
  event.preventDefault()
  const form = event.target
  submit(form, async () => {
    const grades = [...form.querySelectorAll('.grade')]
      .map((row) => ({
        grade: row.querySelector('[name=grade]').value.trim(),
        price: Number(row.querySelector('[name=price]').value),
        count: Number(row.querySelector('[name=count]').value),
      }))
      .filter((g) => g.grade && g.count > 0)
    const schedule = await api(
      `/admin/concerts/${encodeURIComponent(form.elements.concertId.value.trim())}/schedules`,
      {
        method: 'POST',
        body: JSON.stringify({
          startsAt: new Date(form.elements.startsAt.value).toISOString(),
          saleOpensAt: new Date(form.elements.saleOpensAt.value).toISOString(),
          seats: grades,
        }),
      },
    )
    $('schedule').value = schedule.id
    refresh()
    return `created ${schedule.id} with ${schedule.seatCount} seats`
  })
})

$('new-coupon').addEventListener('submit', (event) => {
  event.preventDefault()
  const form = event.target
  submit(form, async () => {
    const coupon = await api('/admin/coupons', {
      method: 'POST',
      body: JSON.stringify({
        name: form.elements.name.value,
        discountType: form.elements.discountType.value,
        discountValue: Number(form.elements.discountValue.value),
        totalQuantity: Number(form.elements.totalQuantity.value),
      }),
    })
    return `created ${coupon.id}`
  })
})

$('connect').addEventListener('submit', (event) => {
  event.preventDefault()
  refresh()
})
$('replay-all').addEventListener('click', () => replay({ all: true }))

// default times for the schedule form: the show in 30 days, the sale in 10 minutes
const local = (ms) => new Date(ms - new Date().getTimezoneOffset() * 60_000).toISOString().slice(0, 16)
$('new-schedule').elements.startsAt.value = local(Date.now() + 30 * 86_400_000)
$('new-schedule').elements.saleOpensAt.value = local(Date.now() + 10 * 60_000)

$('key').value = sessionStorage.getItem('adminKey') ?? ''
if ($('key').value) refresh()
// the console polls the server's series (fans' pages never poll)
setInterval(refresh, Number(new URLSearchParams(location.search).get('every') ?? 5000))
