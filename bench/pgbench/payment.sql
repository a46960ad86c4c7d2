-- A payment-shaped transaction: the wallet debited on a condition, a ledger line, an outbox event of the size a
-- reservation.confirmed has (696 bytes of JSON; a space after each colon and chr(58) in the source, since pgbench reads `:name` as a variable).
\set uid random(1, 10000)
BEGIN;
UPDATE bench_wallets SET balance = balance - 1 WHERE user_id = :uid AND balance >= 1;
INSERT INTO bench_ledger (user_id, amount, kind, balance_after) VALUES (:uid, -1, 'payment', 0);
INSERT INTO bench_outbox (topic, key, event) VALUES ('reservation.confirmed', :uid, ('{"specversion": "1.0","id": "01a22c70-22ae-7579-89f8-ed02a9e02447","source": "urn' || chr(58) || 'ticketing","type": "reservation.confirmed","subject": "01a22c70-2272-71d6-b730-f43cceda81e9","time": "2026-11-30T12:31:16.141Z","datacontenttype": "application/json","dataschemaversion": 1,"data": {"reservationId": "01a22c70-2272-71d6-b730-f43cceda81e9","paymentId": "01a22c70-22ae-7579-89f8-ed02a9e02447","scheduleId": "01a22c70-2227-767b-b61e-61af8fc8feea","concertId": "01a22c70-2227-767b-b61e-61af8fc8fe00","seatId": "01a22c70-222b-72c2-aee2-a363f3b2cacd","seatLabel": "R-1","userId": "01a22c70-2253-7369-8473-642da2b7cb8c","price": 100000,"discount": 0,"amount": 100000,"couponId": null,"confirmedAt": "2026-11-30T12:31:16.141Z"}}')::jsonb);
END;
