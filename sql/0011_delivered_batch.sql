-- msg_delivered_batch: many readers' delivered receipts in one transaction.
--
-- events.fcgi marks a message delivered when it hands the reader its
-- message.new event. One msg_delivered (0008) per receipt cost a durable
-- commit and half a dozen statements for every message delivered, about as
-- much as the send itself. events.fcgi now gathers the receipts of all its
-- readers and writes them together (lib/chat/receipts.c), with set
-- statements as msg_send_batch (0009) does.
--
-- p_batch is a JSON array of {"c": conversation, "u": reader, "q": seq},
-- sorted by (c, u); a pair given twice counts once, with its highest seq.
-- For each pair whose delivered mark is below q (never past the
-- conversation's last seq): the mark moves to q and, when the
-- conversation has at most p_fanout_max members, every other member gets a
-- 'receipt' event {"user_id", "delivered_seq", "read_seq"}, as
-- msg_delivered gives. A pair that is not a member row is skipped.
-- Answers one row: 'ok' and the ids of the users who got events
-- (comma-separated), or 'same' and NULL when no mark moved.
--
-- Locks, in msg_delivered's order: the conversation rows in share mode (in
-- id order: a send locks them exclusively first, so a send and a receipt of
-- one conversation wait for each other instead of deadlocking over member
-- rows), then the readers' member rows (in (conversation, user) order),
-- then heads in user_id order. The other members are read without locks
-- (the share locks keep the membership as it is): two batches of one
-- conversation (two hosts' writers) lock only their own readers' rows.

DELIMITER //
CREATE OR REPLACE PROCEDURE msg_delivered_batch(IN p_batch LONGTEXT CHARACTER SET utf8mb4,
	IN p_fanout_max INT)
	MODIFIES SQL DATA
proc: BEGIN
	DECLARE v_now DATETIME(3) DEFAULT NOW(3);
	DECLARE v_clamped LONGTEXT;
	DECLARE v_moved LONGTEXT;
	DECLARE v_told LONGTEXT;
	DECLARE v_wake LONGTEXT;
	DECLARE EXIT HANDLER FOR SQLEXCEPTION
	BEGIN
		ROLLBACK;
		RESIGNAL;
	END;

	SET SESSION group_concat_max_len = 16777216;
	START TRANSACTION;
	-- Conversation rows in share mode, each pair once, its seq kept within
	-- its conversation.
	SELECT JSON_ARRAYAGG(JSON_OBJECT('c', j.c, 'u', j.u, 'q', LEAST(j.q, c.last_seq))
			ORDER BY j.c, j.u)
		INTO v_clamped
		FROM (SELECT p.c, p.u, MAX(p.q) AS q
			FROM JSON_TABLE(p_batch, '$[*]' COLUMNS (c BIGINT UNSIGNED PATH '$.c',
				u BIGINT UNSIGNED PATH '$.u', q BIGINT UNSIGNED PATH '$.q')) p
			GROUP BY p.c, p.u) j
		STRAIGHT_JOIN conversations c FORCE INDEX (PRIMARY) ON c.id = j.c
		LOCK IN SHARE MODE;
	IF v_clamped IS NULL THEN
		COMMIT;
		SELECT 'same', NULL;
		LEAVE proc;
	END IF;
	-- The marks that move, with the reader's read mark, under the readers'
	-- member rows' locks.
	SELECT JSON_ARRAYAGG(JSON_OBJECT('c', j.c, 'u', j.u, 'd', j.q, 'r', m.last_read_seq)
			ORDER BY j.c, j.u)
		INTO v_moved
		FROM JSON_TABLE(v_clamped, '$[*]' COLUMNS (c BIGINT UNSIGNED PATH '$.c',
			u BIGINT UNSIGNED PATH '$.u', q BIGINT UNSIGNED PATH '$.q')) j
		STRAIGHT_JOIN members m FORCE INDEX (PRIMARY)
			ON m.conversation_id = j.c AND m.user_id = j.u
		WHERE m.delivered_seq < j.q
		FOR UPDATE;
	IF v_moved IS NULL THEN
		COMMIT;
		SELECT 'same', NULL;
		LEAVE proc;
	END IF;
	UPDATE JSON_TABLE(v_moved, '$[*]' COLUMNS (c BIGINT UNSIGNED PATH '$.c',
			u BIGINT UNSIGNED PATH '$.u', d BIGINT UNSIGNED PATH '$.d')) x
		STRAIGHT_JOIN members m FORCE INDEX (PRIMARY)
			ON m.conversation_id = x.c AND m.user_id = x.u
		SET m.delivered_seq = x.d;
	-- Who is told what: each other member of conversations within the
	-- fan-out limit, one line per receipt and member (read without locks;
	-- membership cannot change under the share locks).
	SELECT JSON_ARRAYAGG(JSON_OBJECT('c', x.c, 'u', x.u, 'd', x.d, 'r', x.r, 'm', o.user_id)
			ORDER BY x.o, o.user_id)
		INTO v_told
		FROM JSON_TABLE(v_moved, '$[*]' COLUMNS (o FOR ORDINALITY,
			c BIGINT UNSIGNED PATH '$.c', u BIGINT UNSIGNED PATH '$.u',
			d BIGINT UNSIGNED PATH '$.d', r BIGINT UNSIGNED PATH '$.r')) x
		STRAIGHT_JOIN members o FORCE INDEX (PRIMARY) ON o.conversation_id = x.c
		WHERE o.user_id <> x.u
			AND (SELECT COUNT(*) FROM members n WHERE n.conversation_id = x.c) <= p_fanout_max;
	IF v_told IS NULL THEN
		COMMIT;
		SELECT 'ok', NULL;
		LEAVE proc;
	END IF;
	-- One event per line; heads in user_id order (GROUP BY sorts).
	UPDATE (SELECT t.m, COUNT(*) AS k
			FROM JSON_TABLE(v_told, '$[*]' COLUMNS (m BIGINT UNSIGNED PATH '$.m')) t
			GROUP BY t.m) y
		STRAIGHT_JOIN user_heads h FORCE INDEX (PRIMARY) ON h.user_id = y.m
		SET h.last_seq = h.last_seq + y.k;
	INSERT INTO user_events (user_id, seq, type, conversation_id, ref_id, payload, created_at)
		SELECT t.m,
			h.last_seq - COUNT(*) OVER (PARTITION BY t.m)
				+ ROW_NUMBER() OVER (PARTITION BY t.m ORDER BY t.o),
			'receipt', t.c, NULL,
			CONCAT('{"user_id":', t.u, ',"delivered_seq":', t.d, ',"read_seq":', t.r, '}'),
			v_now
		FROM JSON_TABLE(v_told, '$[*]' COLUMNS (o FOR ORDINALITY,
			c BIGINT UNSIGNED PATH '$.c', u BIGINT UNSIGNED PATH '$.u',
			d BIGINT UNSIGNED PATH '$.d', r BIGINT UNSIGNED PATH '$.r',
			m BIGINT UNSIGNED PATH '$.m')) t
		STRAIGHT_JOIN user_heads h FORCE INDEX (PRIMARY) ON h.user_id = t.m;
	SELECT GROUP_CONCAT(DISTINCT t.m ORDER BY t.m SEPARATOR ',') INTO v_wake
		FROM JSON_TABLE(v_told, '$[*]' COLUMNS (m BIGINT UNSIGNED PATH '$.m')) t;
	COMMIT;
	SELECT 'ok', v_wake;
END //
DELIMITER ;
