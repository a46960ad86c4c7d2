import { ApiError, api, openStream, session } from './api.js'
import { h, render, toast } from './dom.js'
import { dateTime, duration, points, t } from './i18n.js'
import { refreshBalance } from './main.js'

const errorText = (error) =>
  t('error', { message: error instanceof ApiError ? error.message : String(error) })

/** Concerts with their schedules, opening times and seats left. */
export async function concertsPage() {
  render(h('h1', {}, t('concerts')), h('p', {}, t('loading')))
  const { concerts } = await api('GET', '/concerts')
  const cards = []
  for (const concert of concerts) {
    const detail = await api('GET', `/concerts/${concert.id}`)
    const schedules = await Promise.all(detail.schedules.map((s) => api('GET', `/schedules/${s.id}`)))
    cards.push(
      h(
        'article',
        { class: 'card concert' },
        h('h2', {}, concert.title),
        h('p', { class: 'muted' }, `${concert.artist} · ${concert.venue}`),
        h(
          'ul',
          { class: 'schedules' },
          schedules.map((s) =>
            h(
              'li',
              { class: 'schedule' },
              h(
                'div',
                {},
                h(
                  'div',
                  { class: 'when' },
                  h('span', { class: 'label' }, t('startsAt')),
                  ' ',
                  dateTime(s.startsAt),
                ),
                h(
                  'div',
                  { class: 'muted' },
                  h('span', { class: 'label' }, t('saleOpensAt')),
                  ' ',
                  dateTime(s.saleOpensAt),
                  ' · ',
                  h(
                    'span',
                    { class: s.saleOpen ? 'pill open' : 'pill' },
                    s.saleOpen ? t('saleOpen') : t('saleNotOpen'),
                  ),
                ),
                h(
                  'div',
                  { class: 'muted' },
                  s.seats.available > 0
                    ? t('seatsLeft', { n: s.seats.available, total: s.seats.total })
                    : t('soldOut'),
                ),
              ),
              s.saleOpen && s.seats.available === 0
                ? h(
                    'a',
                    { class: 'button', href: `#/waitlist/${s.id}`, 'data-schedule': s.id },
                    t('joinWaitlist'),
                  )
                : h(
                    'a',
                    { class: 'button', href: `#/queue/${s.id}`, 'data-schedule': s.id },
                    t('enterQueue'),
                  ),
            ),
          ),
        ),
      ),
    )
  }
  render(h('h1', {}, t('concerts')), cards.length ? cards : h('p', {}, t('noConcerts')))
}

function queueTokenOf(scheduleId) {
  try {
    const saved = JSON.parse(sessionStorage.getItem(`queue:${scheduleId}`) ?? 'null')
    return saved && Date.parse(saved.admittedUntil) > Date.now() ? saved.token : null
  } catch {
    return null
  }
}

/**
 * The waiting room: enters the line (or finds the place again after a reload), then follows the place on the
 * queue stream; nothing is polled. Before the sale opens it counts down to the opening.
 */
export async function waitingRoomPage(scheduleId) {
  const schedule = await api('GET', `/schedules/${scheduleId}`)
  const position = h('output', { class: 'position', id: 'position' }, '–')
  const ahead = h('p', { id: 'ahead' })
  const eta = h('p', { id: 'eta' })
  const bar = h('progress', { id: 'progress', max: 100, value: 0, 'aria-label': t('yourPlace') })
  const announce = h('p', { class: 'visually-hidden', 'aria-live': 'polite', id: 'announce' })
  const note = h('p', { class: 'muted', id: 'note' }, t('keepOpen'))
  const opening = h('p', { class: 'countdown', id: 'countdown' })
  const status = h('p', { class: 'muted', id: 'connection' })
  const admittedBox = h('div', { id: 'admitted' })
  const leave = h('button', { type: 'button', class: 'secondary', id: 'leave' }, t('leave'))
  render(
    h('h1', {}, t('waitingRoom')),
    h('p', { class: 'muted' }, `${schedule.concert.title} · ${dateTime(schedule.startsAt)}`),
    h(
      'section',
      { class: 'card waiting', 'aria-labelledby': 'place-title' },
      opening,
      h('h2', { id: 'place-title' }, t('yourPlace')),
      position,
      ahead,
      bar,
      eta,
      announce,
      admittedBox,
      note,
      status,
      leave,
    ),
  )

  let timer
  const tickOpening = () => {
    const left = (Date.parse(schedule.saleOpensAt) - Date.now()) / 1000
    opening.textContent = left > 0 ? t('opensIn', { time: duration(left) }) : ''
  }
  tickOpening()
  if (Date.parse(schedule.saleOpensAt) > Date.now()) timer = setInterval(tickOpening, 1000)

  const firstKey = `first-place:${scheduleId}`
  let lastAnnounced = null
  const show = (place) => {
    if (place.status === 'admitted') {
      admitted(place)
      return
    }
    if (place.status !== 'waiting') {
      position.textContent = '–'
      ahead.textContent = t('left')
      return
    }
    if (place.preQueue || place.position === null) {
      position.textContent = '–'
      ahead.textContent = t('preQueue')
      eta.textContent = t('etaUnknown')
      bar.value = 0
      return
    }
    const first = Math.max(Number(localStorage.getItem(firstKey) ?? 0), place.position)
    localStorage.setItem(firstKey, String(first))
    position.textContent = new Intl.NumberFormat().format(place.position)
    ahead.textContent = t('ahead', { n: new Intl.NumberFormat().format(place.ahead ?? place.position - 1) })
    eta.textContent = t('eta', { time: duration(place.estimatedWaitSeconds ?? 0) })
    bar.value = first > 1 ? Math.round(((first - place.position) / (first - 1)) * 100) : 100
    // announce the place politely, not on every tiny move of a long line
    if (
      lastAnnounced === null ||
      place.position <= 10 ||
      lastAnnounced - place.position >= lastAnnounced / 10
    ) {
      lastAnnounced = place.position
      announce.textContent = t('placeAnnounce', { n: place.position })
    }
  }
  let done = false
  const admitted = (place) => {
    if (done) return
    done = true
    sessionStorage.setItem(
      `queue:${scheduleId}`,
      JSON.stringify({ token: place.token, admittedUntil: place.admittedUntil }),
    )
    localStorage.removeItem(firstKey)
    position.textContent = '0'
    ahead.textContent = ''
    eta.textContent = ''
    bar.value = 100
    announce.textContent = t('admitted')
    admittedBox.replaceChildren(
      h('p', { class: 'admitted', role: 'alert' }, t('admitted')),
      h('a', { class: 'button', href: `#/seats/${scheduleId}`, id: 'go-seats' }, t('chooseSeat')),
    )
    setTimeout(() => {
      if (location.hash === `#/queue/${scheduleId}`) location.hash = `#/seats/${scheduleId}`
    }, 1500)
  }

  let stop = () => {}
  leave.addEventListener('click', async () => {
    stop()
    try {
      await api('DELETE', `/schedules/${scheduleId}/queue/me`)
    } catch {}
    sessionStorage.removeItem(`queue:${scheduleId}`)
    localStorage.removeItem(firstKey)
    toast(t('left'))
    location.hash = '#/'
  })

  try {
    const place = await api('POST', `/schedules/${scheduleId}/queue`)
    show(place)
    if (place.status !== 'admitted')
      stop = openStream(`/schedules/${scheduleId}/queue/stream`, { place: show, admitted: show }, (state) => {
        status.dataset.state = state
        status.textContent = state === 'open' ? '' : t('connection')
      })
  } catch (error) {
    ahead.textContent = errorText(error)
  }
  return () => {
    clearInterval(timer)
    stop()
  }
}

/** The live seat map: a snapshot, then every change pushed; a click holds the seat. */
export async function seatsPage(scheduleId) {
  const queueToken = queueTokenOf(scheduleId)
  if (!queueToken) {
    location.hash = `#/queue/${scheduleId}`
    return
  }
  const schedule = await api('GET', `/schedules/${scheduleId}`)
  const message = h('p', { class: 'message', id: 'seat-message', role: 'alert' })
  const grid = h('div', { class: 'seat-grid', id: 'seats', role: 'group', 'aria-label': t('seatMap') })
  const status = h('p', { class: 'muted', id: 'connection' })
  const legend = h(
    'ul',
    { class: 'legend', 'aria-hidden': 'true' },
    ['available', 'held', 'sold'].map((s) => h('li', {}, h('span', { class: `swatch ${s}` }), t(s))),
  )
  render(
    h('h1', {}, t('seatMap')),
    h('p', { class: 'muted' }, `${schedule.concert.title} · ${dateTime(schedule.startsAt)}`),
    message,
    h('div', { class: 'stage', 'aria-hidden': 'true' }, t('stage')),
    grid,
    legend,
    status,
  )
  const seats = new Map()
  const timers = new Map()
  const stateOf = (seat) =>
    seat.status === 'held' && seat.heldUntil && Date.parse(seat.heldUntil) <= Date.now()
      ? 'available'
      : seat.status
  const paint = (seat) => {
    const button = seat.button
    const state = stateOf(seat)
    button.className = `seat ${state}`
    button.disabled = state !== 'available'
    button.setAttribute('aria-disabled', String(state !== 'available'))
    button.setAttribute(
      'aria-label',
      t('seatLabel', { label: seat.label, grade: seat.grade, price: points(seat.price), state: t(state) }),
    )
    button.title = `${seat.label} · ${points(seat.price)}`
    clearTimeout(timers.get(seat.id))
    // a hold ends at its deadline without any event: the map frees it by itself
    if (state === 'held' && seat.heldUntil)
      timers.set(
        seat.id,
        setTimeout(() => paint(seat), Date.parse(seat.heldUntil) - Date.now() + 50),
      )
  }
  const hold = async (seat) => {
    message.textContent = t('holding', { label: seat.label })
    try {
      const reservation = await api('POST', `/schedules/${scheduleId}/seats/${seat.id}/hold`, {
        headers: { 'x-queue-token': queueToken },
      })
      seat.status = 'held'
      seat.heldUntil = reservation.expiresAt
      paint(seat)
      location.hash = `#/checkout/${reservation.id}`
    } catch (error) {
      if (error.code === 'SEAT_ALREADY_HELD') {
        seat.status = seat.status === 'sold' ? 'sold' : 'held'
        paint(seat)
        message.textContent = t('lostRace', { label: seat.label })
      } else if (error.code === 'HOLD_LIMIT_REACHED') message.textContent = t('holdLimit')
      else if (String(error.code).startsWith('QUEUE_')) {
        sessionStorage.removeItem(`queue:${scheduleId}`)
        message.textContent = t('needAdmission')
      } else message.textContent = errorText(error)
    }
  }
  const snapshot = ({ seats: list }) => {
    grid.replaceChildren()
    seats.clear()
    let row = null
    let rowName = null
    for (const s of list) {
      const name = `${s.grade}-${s.label.replace(/\d+$/, '')}`
      if (name !== rowName) {
        rowName = name
        row = h(
          'div',
          { class: 'seat-row' },
          h('span', { class: 'row-name', 'aria-hidden': 'true' }, s.grade),
        )
        grid.append(row)
      }
      const seat = { ...s }
      seat.button = h(
        'button',
        { type: 'button', 'data-seat': s.id, 'data-label': s.label, onclick: () => hold(seat) },
        s.label.replace(/^\D+-?/, ''),
      )
      seats.set(s.id, seat)
      row.append(seat.button)
      paint(seat)
    }
  }
  const change = (event) => {
    const seat = seats.get(event.id)
    if (!seat) return
    seat.status = event.status
    seat.heldUntil = event.heldUntil
    paint(seat)
  }
  const stop = openStream(`/schedules/${scheduleId}/seats/stream`, { snapshot, seat: change }, (state) => {
    status.dataset.state = state
    status.textContent = state === 'open' ? '' : t('connection')
  })
  return () => {
    stop()
    for (const timer of timers.values()) clearTimeout(timer)
  }
}

function discountOf(price, coupon) {
  if (!coupon) return 0
  const off =
    coupon.discountType === 'fixed' ? coupon.discountValue : Math.floor((price * coupon.discountValue) / 100)
  return Math.max(0, Math.min(price, off))
}

/** Checkout: the hold's countdown, price, coupon choice, balance and top-up, pay. */
export async function checkoutPage(reservationId) {
  const user = session().user
  const reservation = await api('GET', `/reservations/${reservationId}`)
  if (reservation.status === 'confirmed') {
    location.hash = `#/receipt/${reservationId}`
    return
  }
  const [{ coupons }, wallet] = await Promise.all([
    api('GET', `/users/${user.id}/coupons`),
    api('GET', `/users/${user.id}/wallet`),
  ])
  const usable = coupons.filter((c) => c.status === 'available')
  let balance = wallet.balance
  let chosen = null
  const idemKey = `pay:${reservationId}`
  if (!sessionStorage.getItem(idemKey)) sessionStorage.setItem(idemKey, crypto.randomUUID())

  const countdown = h('p', { class: 'countdown', id: 'hold-countdown', role: 'timer', 'aria-live': 'off' })
  const message = h('p', { class: 'message', id: 'checkout-message', role: 'alert' })
  const discountCell = h('dd', { id: 'discount' })
  const totalCell = h('dd', { id: 'total', class: 'total' })
  const balanceCell = h('dd', { id: 'wallet' })
  const payButton = h('button', { type: 'submit', id: 'pay' })
  const topUpInput = h('input', {
    type: 'number',
    id: 'top-up-amount',
    min: 1,
    step: 1,
    inputmode: 'numeric',
  })
  const topUpForm = h(
    'form',
    { class: 'inline', id: 'top-up' },
    h('label', { for: 'top-up-amount' }, t('topUpAmount')),
    topUpInput,
    h('button', { type: 'submit', class: 'secondary' }, t('topUp')),
  )
  const couponChoices = h(
    'fieldset',
    { class: 'coupons' },
    h('legend', {}, t('coupon')),
    [null, ...usable].map((c) =>
      h(
        'label',
        { class: 'choice' },
        h('input', {
          type: 'radio',
          name: 'coupon',
          value: c?.couponId ?? '',
          checked: c === null,
          onchange: () => {
            chosen = c
            update()
          },
        }),
        c
          ? t('couponOff', { name: c.name, amount: points(discountOf(reservation.price, c)) })
          : t('noCoupon'),
      ),
    ),
  )
  const update = () => {
    const discount = discountOf(reservation.price, chosen)
    const total = reservation.price - discount
    discountCell.textContent = discount ? `−${points(discount)}` : points(0)
    totalCell.textContent = points(total)
    balanceCell.textContent = points(balance)
    payButton.textContent = t('pay', { amount: points(total) })
    const short = total - balance
    if (short > 0) {
      message.textContent = t('notEnough', { amount: points(short) })
      message.dataset.kind = 'short'
      topUpInput.value = String(short)
    } else if (message.dataset.kind === 'short') {
      message.textContent = ''
      message.dataset.kind = ''
    }
  }
  const form = h(
    'form',
    { class: 'card checkout', id: 'checkout' },
    countdown,
    h(
      'dl',
      { class: 'summary' },
      h('dt', {}, t('seat')),
      h('dd', { id: 'seat' }, reservation.seatLabel),
      h('dt', {}, t('price')),
      h('dd', {}, points(reservation.price)),
      h('dt', {}, t('discount')),
      discountCell,
      h('dt', {}, t('toPay')),
      totalCell,
      h('dt', {}, t('yourBalance')),
      balanceCell,
    ),
    couponChoices,
    message,
    payButton,
  )
  const release = h('button', { type: 'button', class: 'link', id: 'release' }, t('cancelHold'))
  render(h('h1', {}, t('checkout')), form, topUpForm, release)
  update()

  const deadline = Date.parse(reservation.expiresAt)
  const tick = () => {
    const left = (deadline - Date.now()) / 1000
    if (left > 0) {
      countdown.textContent = t('holdEndsIn', { time: duration(left) })
      countdown.classList.toggle('urgent', left < 60)
      return
    }
    clearInterval(timer)
    lapsed()
  }
  const lapsed = () => {
    countdown.textContent = ''
    payButton.disabled = true
    topUpForm.hidden = true
    release.hidden = true
    form.replaceChildren(
      h('p', { class: 'message', role: 'alert', id: 'lapsed' }, t('holdLapsed')),
      h('a', { class: 'button', href: `#/seats/${reservation.scheduleId}` }, t('backToSeats')),
    )
  }
  const timer = setInterval(tick, 1000)
  tick()

  topUpForm.addEventListener('submit', async (event) => {
    event.preventDefault()
    const amount = Number(topUpInput.value)
    if (!Number.isInteger(amount) || amount < 1) return
    try {
      const charged = await api('POST', `/users/${user.id}/wallet/charges`, {
        body: { amount },
        headers: { 'idempotency-key': crypto.randomUUID() },
      })
      balance = charged.balance
      message.textContent = t('toppedUp', { amount: points(amount) })
      update()
      refreshBalance()
    } catch (error) {
      message.textContent = errorText(error)
    }
  })
  form.addEventListener('submit', async (event) => {
    event.preventDefault()
    payButton.disabled = true
    payButton.textContent = t('paying')
    try {
      const receipt = await api('POST', `/reservations/${reservationId}/payment`, {
        body: chosen ? { couponId: chosen.couponId } : {},
        headers: {
          'idempotency-key': sessionStorage.getItem(idemKey),
          'x-queue-token': queueTokenOf(reservation.scheduleId) ?? '',
        },
      })
      sessionStorage.setItem(`receipt:${reservationId}`, JSON.stringify(receipt))
      sessionStorage.removeItem(idemKey)
      refreshBalance()
      location.hash = `#/receipt/${reservationId}`
    } catch (error) {
      payButton.disabled = false
      update()
      if (error.code === 'HOLD_EXPIRED') lapsed()
      else if (error.code === 'INSUFFICIENT_POINTS') message.textContent = error.message
      else message.textContent = errorText(error)
      // a refused payment may be tried again under a new key (a replay would answer the same refusal)
      sessionStorage.setItem(idemKey, crypto.randomUUID())
    }
  })
  release.addEventListener('click', async () => {
    try {
      await api('DELETE', `/reservations/${reservationId}`)
    } catch {}
    location.hash = `#/seats/${reservation.scheduleId}`
  })
  return () => clearInterval(timer)
}

export async function receiptPage(reservationId) {
  const saved = JSON.parse(sessionStorage.getItem(`receipt:${reservationId}`) ?? 'null')
  const reservation = await api('GET', `/reservations/${reservationId}`)
  const schedule = await api('GET', `/schedules/${reservation.scheduleId}`)
  const rows = [
    [t('seat'), reservation.seatLabel],
    [t('price'), points(reservation.price)],
    ...(saved
      ? [
          [t('discount'), saved.discount ? `−${points(saved.discount)}` : points(0)],
          [t('amountPaid'), points(saved.amount)],
          [t('balanceAfter'), points(saved.balance)],
        ]
      : []),
    [t('paidAt'), reservation.confirmedAt ? dateTime(reservation.confirmedAt) : '–'],
  ]
  render(
    h('h1', {}, t('receipt')),
    h(
      'section',
      { class: 'card receipt', id: 'receipt' },
      h(
        'p',
        { class: 'admitted' },
        reservation.status === 'confirmed' ? t('paid') : t(`status_${reservation.status}`),
      ),
      h('h2', {}, schedule.concert.title),
      h('p', { class: 'muted' }, `${dateTime(schedule.startsAt)} · ${schedule.concert.venue}`),
      h(
        'dl',
        { class: 'summary' },
        rows.flatMap(([k, v]) => [h('dt', {}, k), h('dd', {}, v)]),
      ),
    ),
    h('a', { class: 'button', href: '#/reservations' }, t('reservations')),
  )
}

/**
 * The waiting list of a sold-out schedule: join, your place, leave; when a seat comes back it is offered to you alone
 * until its deadline (the notification says so), and holding it takes you to checkout like any admitted fan.
 */
export async function waitlistPage(scheduleId) {
  const box = h('section', { class: 'card', 'aria-live': 'polite', id: 'waitlist' })
  const message = h('p', { class: 'message', role: 'alert' })
  const failed = (error) => {
    message.textContent = error.code === 'SCHEDULE_NOT_SOLD_OUT' ? t('notSoldOut') : errorText(error)
  }
  const show = (entry) => {
    message.textContent = ''
    if (!entry || entry.status === 'left' || entry.status === 'lapsed') {
      box.replaceChildren(
        h('p', {}, entry?.status === 'lapsed' ? t('offerLapsed') : t('waitlistIntro')),
        h('button', { class: 'button', id: 'join-waitlist', onclick: join }, t('joinWaitlist')),
      )
    } else if (entry.status === 'waiting') {
      box.replaceChildren(
        h('p', { class: 'big' }, t('waitlistPosition', { n: entry.position ?? '–' })),
        h('p', { class: 'muted' }, t('waitlistWillTell')),
        h('button', { class: 'button secondary', onclick: load }, t('checkAgain')),
        ' ',
        h('button', { class: 'button secondary', id: 'leave-waitlist', onclick: leave }, t('leaveWaitlist')),
      )
    } else if (entry.status === 'offered' && entry.offer) {
      const offer = entry.offer
      box.replaceChildren(
        h('p', { class: 'big' }, t('waitlistOffer', { label: offer.seatLabel })),
        h('p', {}, `${points(offer.price)} · ${t('offerUntil', { time: dateTime(offer.expiresAt) })}`),
        h('button', { class: 'button', id: 'hold-offer', onclick: () => holdOffer(entry) }, t('holdOffered')),
        ' ',
        h('button', { class: 'button secondary', onclick: leave }, t('leaveWaitlist')),
      )
    } else {
      box.replaceChildren(
        h('p', {}, t('offerTaken')),
        h('a', { class: 'button', href: '#/reservations' }, t('reservations')),
      )
    }
  }
  async function load() {
    try {
      show(await api('GET', `/schedules/${scheduleId}/waitlist/me`))
    } catch (error) {
      if (error instanceof ApiError && error.code === 'WAITLIST_ENTRY_NOT_FOUND') show(null)
      else failed(error)
    }
  }
  async function join() {
    try {
      show(await api('POST', `/schedules/${scheduleId}/waitlist`))
    } catch (error) {
      failed(error)
    }
  }
  async function leave() {
    try {
      await api('DELETE', `/schedules/${scheduleId}/waitlist/me`)
      show({ status: 'left' })
    } catch (error) {
      failed(error)
    }
  }
  async function holdOffer(entry) {
    try {
      // The offer admits the fan to the schedule until its deadline, like a turn in the waiting room.
      sessionStorage.setItem(
        `queue:${scheduleId}`,
        JSON.stringify({ token: entry.queueToken, admittedUntil: entry.offer.expiresAt }),
      )
      const reservation = await api('POST', `/schedules/${scheduleId}/seats/${entry.offer.seatId}/hold`, {
        headers: { 'x-queue-token': entry.queueToken },
      })
      location.hash = `#/checkout/${reservation.id}`
    } catch (error) {
      failed(error)
      await load()
    }
  }
  render(h('h1', {}, t('waitlist')), box, message)
  await load()
}
