// Korean and English words of the app; dates and amounts go through Intl for the chosen locale.

const words = {
  en: {
    brand: 'Flash Tickets',
    concerts: 'Concerts',
    reservations: 'My tickets',
    coupons: 'Coupons',
    inbox: 'Inbox',
    signIn: 'Sign in',
    signUp: 'Create account',
    signOut: 'Sign out',
    email: 'Email',
    password: 'Password',
    name: 'Name',
    haveAccount: 'Already have an account?',
    newHere: 'New here?',
    balance: 'Points: {amount}',
    loading: 'Loading…',
    noConcerts: 'No concerts on sale yet.',
    startsAt: 'Show time',
    saleOpensAt: 'Sale opens',
    seatsLeft: '{n} of {total} seats left',
    soldOut: 'Sold out',
    enterQueue: 'Join the waiting room',
    saleOpen: 'On sale now',
    saleNotOpen: 'Sale not open yet',
    waitingRoom: 'Waiting room',
    opensIn: 'Sale opens in {time}',
    preQueue: 'You are in line. Places are drawn at random when the sale opens, so no need to hurry.',
    yourPlace: 'Your place in line',
    ahead: '{n} people ahead of you',
    eta: 'Estimated wait: {time}',
    etaUnknown: 'Estimated wait: after the sale opens',
    placeAnnounce: 'You are number {n} in line.',
    admitted: "It's your turn! Choose your seat.",
    chooseSeat: 'Choose your seat',
    leave: 'Leave the line',
    left: 'You left the line.',
    keepOpen: 'Keep this page open. Reloading keeps your place.',
    connection: 'Reconnecting…',
    seatMap: 'Seat map',
    stage: 'Stage',
    available: 'Available',
    held: 'Held',
    sold: 'Sold',
    mine: 'Yours',
    seatLabel: 'Seat {label}, grade {grade}, {price}, {state}',
    lostRace: 'Someone else just took seat {label}. Please pick another.',
    holdLimit: 'You already hold as many seats as you may.',
    needAdmission: 'Your admission has ended. Please join the waiting room again.',
    holding: 'Holding seat {label}…',
    checkout: 'Checkout',
    seat: 'Seat',
    price: 'Price',
    holdEndsIn: 'Your seat is held for {time}',
    holdLapsed: 'Your hold lapsed and the seat went back on sale. You can pick a seat again.',
    backToSeats: 'Back to the seat map',
    coupon: 'Coupon',
    noCoupon: 'No coupon',
    couponOff: '{name} (−{amount})',
    discount: 'Discount',
    toPay: 'To pay',
    yourBalance: 'Your points',
    topUp: 'Top up',
    topUpAmount: 'Points to add',
    toppedUp: 'Added {amount}.',
    notEnough: 'You need {amount} more points.',
    pay: 'Pay {amount}',
    paying: 'Paying…',
    cancelHold: 'Release this seat',
    receipt: 'Receipt',
    paid: 'Payment complete. Enjoy the show!',
    paidAt: 'Paid at',
    amountPaid: 'Paid',
    balanceAfter: 'Points left',
    noReservations: 'No tickets yet.',
    status_held: 'Held',
    status_confirmed: 'Confirmed',
    status_expired: 'Lapsed',
    status_cancelled: 'Released',
    firstCome: 'First-come coupons',
    requestCoupon: 'Get this coupon',
    left_n: '{n} left',
    couponPending: 'Request received: waiting for your turn…',
    couponIssued: 'Issued! It is in your coupons.',
    couponRejected: 'Not issued: {reason}',
    reason_SOLD_OUT: 'all gone',
    reason_ALREADY_OWNED: 'you already have it',
    checkAgain: 'Check again',
    myCoupons: 'My coupons',
    noCoupons: 'No coupons.',
    used: 'used',
    noNotifications: 'Nothing here yet.',
    preferences: 'Notification settings',
    channel_webhook: 'Webhook',
    channel_slack: 'Slack',
    channel_discord: 'Discord',
    channel_telegram: 'Telegram',
    channel_alimtalk: 'KakaoTalk',
    channel_fcm: 'Push',
    channel_sms: 'Text message',
    telegramChat: 'Telegram chat id',
    save: 'Save',
    saved: 'Saved.',
    noChannels: 'This service sends no outside notifications; you get everything here.',
    error: 'Something went wrong: {message}',
    signInFirst: 'Please sign in first.',
    percentOff: '{n}% off',
    amountOff: '{amount} off',
  },
  ko: {
    brand: '플래시 티켓',
    concerts: '공연',
    reservations: '내 티켓',
    coupons: '쿠폰',
    inbox: '알림함',
    signIn: '로그인',
    signUp: '회원가입',
    signOut: '로그아웃',
    email: '이메일',
    password: '비밀번호',
    name: '이름',
    haveAccount: '이미 계정이 있으신가요?',
    newHere: '처음이신가요?',
    balance: '포인트 {amount}',
    loading: '불러오는 중…',
    noConcerts: '판매 중인 공연이 아직 없습니다.',
    startsAt: '공연 일시',
    saleOpensAt: '예매 오픈',
    seatsLeft: '잔여 {n}석 / 전체 {total}석',
    soldOut: '매진',
    enterQueue: '대기열 입장',
    saleOpen: '예매 중',
    saleNotOpen: '예매 오픈 전',
    waitingRoom: '대기실',
    opensIn: '예매 오픈까지 {time}',
    preQueue: '대기열에 들어왔습니다. 순번은 오픈 순간 무작위로 정해지니 서두르지 않으셔도 됩니다.',
    yourPlace: '나의 대기 순번',
    ahead: '내 앞에 {n}명',
    eta: '예상 대기 시간: {time}',
    etaUnknown: '예상 대기 시간: 오픈 후 안내',
    placeAnnounce: '현재 대기 순번은 {n}번입니다.',
    admitted: '입장 차례입니다! 좌석을 선택하세요.',
    chooseSeat: '좌석 선택',
    leave: '대기열 나가기',
    left: '대기열에서 나왔습니다.',
    keepOpen: '이 페이지를 열어 두세요. 새로고침해도 순번은 유지됩니다.',
    connection: '다시 연결하는 중…',
    seatMap: '좌석 배치도',
    stage: '무대',
    available: '선택 가능',
    held: '선점됨',
    sold: '판매 완료',
    mine: '내 좌석',
    seatLabel: '{label} 좌석, {grade}석, {price}, {state}',
    lostRace: '방금 다른 분이 {label} 좌석을 선점했습니다. 다른 좌석을 골라 주세요.',
    holdLimit: '선점할 수 있는 좌석 수를 모두 채웠습니다.',
    needAdmission: '입장 시간이 끝났습니다. 대기열에 다시 입장해 주세요.',
    holding: '{label} 좌석 선점 중…',
    checkout: '결제',
    seat: '좌석',
    price: '가격',
    holdEndsIn: '좌석 선점 남은 시간 {time}',
    holdLapsed: '선점 시간이 지나 좌석이 다시 판매되었습니다. 좌석을 다시 선택할 수 있습니다.',
    backToSeats: '좌석 배치도로',
    coupon: '쿠폰',
    noCoupon: '쿠폰 사용 안 함',
    couponOff: '{name} (−{amount})',
    discount: '할인',
    toPay: '결제 금액',
    yourBalance: '보유 포인트',
    topUp: '충전',
    topUpAmount: '충전할 포인트',
    toppedUp: '{amount} 충전했습니다.',
    notEnough: '포인트가 {amount} 부족합니다.',
    pay: '{amount} 결제',
    paying: '결제 중…',
    cancelHold: '좌석 선점 취소',
    receipt: '영수증',
    paid: '결제가 완료되었습니다. 즐거운 관람 되세요!',
    paidAt: '결제 일시',
    amountPaid: '결제 금액',
    balanceAfter: '남은 포인트',
    noReservations: '아직 티켓이 없습니다.',
    status_held: '선점 중',
    status_confirmed: '예매 완료',
    status_expired: '선점 만료',
    status_cancelled: '취소됨',
    firstCome: '선착순 쿠폰',
    requestCoupon: '쿠폰 받기',
    left_n: '{n}장 남음',
    couponPending: '신청 접수: 차례를 기다리는 중…',
    couponIssued: '발급되었습니다! 내 쿠폰에서 확인하세요.',
    couponRejected: '발급되지 않았습니다: {reason}',
    reason_SOLD_OUT: '모두 소진',
    reason_ALREADY_OWNED: '이미 보유 중',
    checkAgain: '다시 확인',
    myCoupons: '내 쿠폰',
    noCoupons: '쿠폰이 없습니다.',
    used: '사용함',
    noNotifications: '아직 알림이 없습니다.',
    preferences: '알림 설정',
    channel_webhook: '웹훅',
    channel_slack: '슬랙',
    channel_discord: '디스코드',
    channel_telegram: '텔레그램',
    channel_alimtalk: '카카오 알림톡',
    channel_fcm: '앱 푸시',
    channel_sms: '문자 메시지',
    telegramChat: '텔레그램 채팅 ID',
    save: '저장',
    saved: '저장했습니다.',
    noChannels: '외부 알림 채널이 없습니다. 모든 알림은 이 알림함에서 볼 수 있습니다.',
    error: '문제가 발생했습니다: {message}',
    signInFirst: '먼저 로그인해 주세요.',
    percentOff: '{n}% 할인',
    amountOff: '{amount} 할인',
  },
}

let lang = pickLanguage()

function pickLanguage() {
  const saved = localStorage.getItem('lang')
  if (saved === 'ko' || saved === 'en') return saved
  return (navigator.language || 'en').toLowerCase().startsWith('ko') ? 'ko' : 'en'
}

export function language() {
  return lang
}

export function setLanguage(next) {
  lang = next === 'ko' ? 'ko' : 'en'
  localStorage.setItem('lang', lang)
  document.documentElement.lang = lang
}

/** The word for `key` in the current language, with `{name}` replaced from `vars`. */
export function t(key, vars = {}) {
  const text = words[lang][key] ?? words.en[key] ?? key
  return text.replace(/\{(\w+)\}/g, (_, name) => String(vars[name] ?? ''))
}

export function points(amount) {
  const n = new Intl.NumberFormat(lang === 'ko' ? 'ko-KR' : 'en-US').format(amount)
  return lang === 'ko' ? `${n}P` : `${n} P`
}

/** Concerts happen in Korea: times are Korea time, said so in English (Korean readers expect nothing else). */
export function dateTime(iso) {
  const text = new Intl.DateTimeFormat(lang === 'ko' ? 'ko-KR' : 'en-GB', {
    dateStyle: 'medium',
    timeStyle: 'short',
    timeZone: 'Asia/Seoul',
  }).format(new Date(iso))
  return lang === 'ko' ? text : `${text} KST`
}

/** A duration as the locale says it: "1:05" style for short waits, with hours when needed. */
export function duration(seconds) {
  const s = Math.max(0, Math.round(seconds))
  const h = Math.floor(s / 3600)
  const m = Math.floor((s % 3600) / 60)
  const rest = s % 60
  const units =
    lang === 'ko'
      ? [h ? `${h}시간` : '', h || m ? `${m}분` : '', `${rest}초`]
      : [h ? `${h}h` : '', h || m ? `${m}m` : '', `${rest}s`]
  return units.filter(Boolean).join(' ')
}
