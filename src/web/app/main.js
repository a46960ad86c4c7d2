import { api, navigated, session, setSession } from './api.js'
import { h } from './dom.js'
import { language, points, setLanguage, t } from './i18n.js'
import { couponsPage, inboxPage, reservationsPage, signInPage } from './pages-account.js'
import {
  checkoutPage,
  concertsPage,
  receiptPage,
  seatsPage,
  waitingRoomPage,
  waitlistPage,
} from './pages-shop.js'

// Hash routes: #/, #/queue/<schedule>, #/seats/<schedule>, #/checkout/<reservation>, #/receipt/<reservation>, …
const routes = [
  [/^#?\/?$/, concertsPage, false],
  [/^#\/sign-in$/, signInPage, false],
  [/^#\/queue\/([\w-]+)$/, waitingRoomPage, true],
  [/^#\/seats\/([\w-]+)$/, seatsPage, true],
  [/^#\/checkout\/([\w-]+)$/, checkoutPage, true],
  [/^#\/receipt\/([\w-]+)$/, receiptPage, true],
  [/^#\/waitlist\/([\w-]+)$/, waitlistPage, true],
  [/^#\/reservations$/, reservationsPage, true],
  [/^#\/coupons$/, couponsPage, true],
  [/^#\/inbox$/, inboxPage, true],
]

let leavePage = () => {}

async function route() {
  navigated()
  leavePage()
  leavePage = () => {}
  renderHeader()
  const hash = location.hash || '#/'
  for (const [pattern, page, needsSession] of routes) {
    const match = hash.match(pattern)
    if (!match) continue
    if (needsSession && !session()) {
      sessionStorage.setItem('after-sign-in', hash)
      location.hash = '#/sign-in'
      return
    }
    const cleanup = await page(...match.slice(1))
    if (typeof cleanup === 'function') leavePage = cleanup
    return
  }
  location.hash = '#/'
}

export function renderHeader() {
  document.title = t('brand')
  document.getElementById('brand').textContent = t('brand')
  const s = session()
  const current = location.hash || '#/'
  const link = (href, key) =>
    h(
      'a',
      { href, 'aria-current': current === href || (href === '#/' && current === '') ? 'page' : null },
      t(key),
    )
  document
    .getElementById('nav')
    .replaceChildren(
      link('#/', 'concerts'),
      ...(s
        ? [link('#/reservations', 'reservations'), link('#/coupons', 'coupons'), link('#/inbox', 'inbox')]
        : []),
    )
  const who = document.getElementById('who')
  if (!s) {
    who.replaceChildren(h('a', { href: '#/sign-in', class: 'button small' }, t('signIn')))
    return
  }
  const balance = h('span', { class: 'balance', id: 'balance' })
  who.replaceChildren(
    balance,
    h(
      'button',
      {
        class: 'link',
        type: 'button',
        onclick: () => {
          setSession(null)
          location.hash = '#/'
          route()
        },
      },
      t('signOut'),
    ),
  )
  refreshBalance()
}

/** Reads the wallet once (after sign-in, a top-up or a payment): no timer. */
export async function refreshBalance() {
  const s = session()
  const el = document.getElementById('balance')
  if (!s || !el) return
  try {
    const wallet = await api('GET', `/users/${s.user.id}/wallet`)
    el.textContent = t('balance', { amount: points(wallet.balance) })
  } catch {
    el.textContent = ''
  }
}

const select = document.getElementById('lang')
setLanguage(language())
select.value = language()
select.addEventListener('change', () => {
  setLanguage(select.value)
  route()
})
window.addEventListener('hashchange', route)
route()

export { route }
