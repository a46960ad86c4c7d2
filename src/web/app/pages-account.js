import { ApiError, api, session, setSession } from './api.js'
import { h, render, toast } from './dom.js'
import { dateTime, points, t } from './i18n.js'
import { refreshBalance, renderHeader } from './main.js'

const errorText = (error) =>
  t('error', { message: error instanceof ApiError ? error.message : String(error) })

function field(id, label, attrs) {
  return h(
    'div',
    { class: 'field' },
    h('label', { for: id }, label),
    h('input', { id, name: id, required: true, ...attrs }),
  )
}

export function signInPage() {
  const message = h('p', { class: 'message', role: 'alert', id: 'auth-message' })
  const done = (answer) => {
    setSession({ user: answer.user, accessToken: answer.accessToken })
    renderHeader()
    const next = sessionStorage.getItem('after-sign-in') ?? '#/'
    sessionStorage.removeItem('after-sign-in')
    location.hash = next
  }
  const signIn = h(
    'form',
    { class: 'card', id: 'sign-in', 'aria-labelledby': 'sign-in-title' },
    h('h2', { id: 'sign-in-title' }, t('signIn')),
    field('in-email', t('email'), { type: 'email', autocomplete: 'username' }),
    field('in-password', t('password'), { type: 'password', autocomplete: 'current-password' }),
    h('button', { type: 'submit' }, t('signIn')),
  )
  const signUp = h(
    'form',
    { class: 'card', id: 'sign-up', 'aria-labelledby': 'sign-up-title' },
    h('h2', { id: 'sign-up-title' }, t('signUp')),
    h('p', { class: 'muted' }, t('newHere')),
    field('up-name', t('name'), { autocomplete: 'name', maxlength: 100 }),
    field('up-email', t('email'), { type: 'email', autocomplete: 'email' }),
    field('up-password', t('password'), { type: 'password', autocomplete: 'new-password', minlength: 8 }),
    h('button', { type: 'submit' }, t('signUp')),
  )
  signIn.addEventListener('submit', async (event) => {
    event.preventDefault()
    try {
      done(
        await api('POST', '/auth/sign-in', {
          body: { email: signIn.elements['in-email'].value, password: signIn.elements['in-password'].value },
        }),
      )
    } catch (error) {
      message.textContent = errorText(error)
    }
  })
  signUp.addEventListener('submit', async (event) => {
    event.preventDefault()
    try {
      done(
        await api('POST', '/auth/sign-up', {
          body: {
            name: signUp.elements['up-name'].value,
            email: signUp.elements['up-email'].value,
            password: signUp.elements['up-password'].value,
          },
        }),
      )
    } catch (error) {
      message.textContent = errorText(error)
    }
  })
  render(h('h1', {}, t('signIn')), message, h('div', { class: 'two' }, signIn, signUp))
}

export async function reservationsPage() {
  const user = session().user
  const refund = async (r) => {
    if (!window.confirm(t('refundConfirm', { label: r.seatLabel, amount: points(r.price) }))) return
    try {
      await api('POST', `/reservations/${r.id}/refund`, { body: {} })
      toast(t('refundDone'))
      refreshBalance()
      await reservationsPage()
    } catch (error) {
      toast(error.code === 'REFUND_WINDOW_CLOSED' ? t('refundClosed') : errorText(error))
    }
  }
  const { reservations } = await api('GET', `/users/${user.id}/reservations`)
  const rows = reservations.map((r) =>
    h(
      'li',
      { class: 'card row' },
      h(
        'div',
        {},
        h('strong', {}, r.seatLabel),
        ' ',
        h('span', { class: `pill ${r.status}` }, t(`status_${r.status}`)),
      ),
      h('div', { class: 'muted' }, `${points(r.price)} · ${dateTime(r.confirmedAt ?? r.createdAt)}`),
      r.status === 'held' && Date.parse(r.expiresAt) > Date.now()
        ? h('a', { class: 'button small', href: `#/checkout/${r.id}` }, t('checkout'))
        : r.status === 'confirmed'
          ? h(
              'div',
              { class: 'actions' },
              h('a', { class: 'button small secondary', href: `#/receipt/${r.id}` }, t('receipt')),
              ' ',
              h(
                'button',
                { class: 'button small secondary', 'data-refund': r.id, onclick: () => refund(r) },
                t('refund'),
              ),
            )
          : null,
    ),
  )
  render(
    h('h1', {}, t('reservations')),
    rows.length ? h('ul', { class: 'list' }, rows) : h('p', {}, t('noReservations')),
  )
}

function off(coupon) {
  return coupon.discountType === 'percent'
    ? t('percentOff', { n: coupon.discountValue })
    : t('amountOff', { amount: points(coupon.discountValue) })
}

/** First-come coupons: ask, then the request's decision (read once shortly after, and on demand). */
export async function couponsPage() {
  const user = session().user
  const [{ coupons: open }, { coupons: owned }] = await Promise.all([
    api('GET', '/coupons'),
    api('GET', `/users/${user.id}/coupons`),
  ])
  const describe = (request) =>
    request.status === 'pending'
      ? t('couponPending')
      : request.status === 'issued'
        ? t('couponIssued')
        : t('couponRejected', { reason: t(`reason_${request.reason}`) })
  const offers = open.map((c) => {
    const state = h('p', { class: 'message', 'aria-live': 'polite' })
    const again = h('button', { type: 'button', class: 'secondary small', hidden: true }, t('checkAgain'))
    const left = h('div', { class: 'muted' }, t('left_n', { n: c.totalQuantity - c.issuedCount }))
    let requestId = null
    // The count was read with the page: an answer says more recent things about it.
    const settle = (request) => {
      state.textContent = describe(request)
      again.hidden = request.status !== 'pending'
      if (request.status === 'rejected' && request.reason === 'SOLD_OUT')
        left.textContent = t('left_n', { n: 0 })
    }
    const check = async () => settle(await api('GET', `/coupon-requests/${requestId}`))
    again.addEventListener('click', () => check().catch((e) => (state.textContent = errorText(e))))
    return h(
      'li',
      { class: 'card row' },
      h('div', {}, h('strong', {}, c.name), ' ', h('span', { class: 'pill open' }, off(c))),
      left,
      h(
        'button',
        {
          type: 'button',
          class: 'small',
          onclick: async (event) => {
            event.target.disabled = true
            try {
              const request = await api('POST', `/coupons/${c.id}/requests`)
              requestId = request.requestId
              settle(request)
              if (request.status === 'pending') setTimeout(() => check().catch(() => {}), 1500)
            } catch (error) {
              state.textContent = errorText(error)
              event.target.disabled = false
            }
          },
        },
        t('requestCoupon'),
      ),
      state,
      again,
    )
  })
  render(
    h('h1', {}, t('coupons')),
    h('h2', {}, t('firstCome')),
    offers.length ? h('ul', { class: 'list' }, offers) : h('p', {}, t('noCoupons')),
    h('h2', {}, t('myCoupons')),
    owned.length
      ? h(
          'ul',
          { class: 'list' },
          owned.map((c) =>
            h(
              'li',
              { class: 'card row' },
              h('strong', {}, c.name),
              ' ',
              h('span', { class: 'pill' }, c.status === 'used' ? t('used') : off(c)),
            ),
          ),
        )
      : h('p', {}, t('noCoupons')),
  )
}

export async function inboxPage() {
  const user = session().user
  const [{ notifications }, prefs] = await Promise.all([
    api('GET', `/users/${user.id}/notifications`),
    api('GET', `/users/${user.id}/notification-preferences`),
  ])
  const list = notifications.map((n) =>
    h(
      'li',
      { class: 'card' },
      h('strong', {}, n.title),
      h('p', {}, n.body),
      h('p', { class: 'muted' }, dateTime(n.createdAt)),
    ),
  )
  const telegram = prefs.preferences.find((p) => p.channel === 'telegram')
  const form = h(
    'form',
    { class: 'card', id: 'preferences' },
    h('h2', {}, t('preferences')),
    prefs.channels.length
      ? prefs.channels.map((c) =>
          h(
            'label',
            { class: 'choice' },
            h('input', { type: 'checkbox', name: c.channel, checked: c.enabled }),
            t(`channel_${c.channel}`),
          ),
        )
      : h('p', { class: 'muted' }, t('noChannels')),
    prefs.channels.some((c) => c.channel === 'telegram')
      ? field('telegram-chat', t('telegramChat'), { value: telegram?.target ?? '', required: false })
      : null,
    prefs.channels.length ? h('button', { type: 'submit' }, t('save')) : null,
  )
  form.addEventListener('submit', async (event) => {
    event.preventDefault()
    try {
      await api('PUT', `/users/${user.id}/notification-preferences`, {
        body: {
          preferences: prefs.channels.map((c) => ({
            channel: c.channel,
            enabled: form.elements[c.channel].checked,
            target: c.channel === 'telegram' ? form.elements['telegram-chat']?.value || null : null,
          })),
        },
      })
      toast(t('saved'))
    } catch (error) {
      toast(errorText(error))
    }
  })
  render(
    h('h1', {}, t('inbox')),
    list.length ? h('ul', { class: 'list' }, list) : h('p', {}, t('noNotifications')),
    form,
  )
}
