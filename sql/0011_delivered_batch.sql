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
-- sorted by (c, u), each pair once (the caller keeps the highest seq).
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
-- rows), then the readers' member rows, the other members' rows, heads in
-- user_id order.

DROP PROCEDURE IF EXISTS msg_delivered_batch;

DELIMITER //
CREATE PROCEDURE msg_delivered_batch(IN p_batch LONGTEXT CHARACTER SET utf8mb4,
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
	-- Conversation rows in share mode, each pair's seq kept within its
	-- conversation.
	SELECT JSON_ARRAYAGG(JSON_OBJECT('c', j.c, 'u', j.u, 'q', LEAST(j.q, c.last_seq)))
		INTO v_clamped
		FROM JSON_TABLE(p_batch, '$[*]' COLUMNS (c BIGINT UNSIGNED PATH '$.c',
			u BIGINT UNSIGNED PATH '$.u', q BIGINT UNSIGNED PATH '$.q')) j
		STRAIGHT_JOIN conversations c FORCE INDEX (PRIMARY) ON c.id = j.c
		LOCK IN SHARE MODE;
	IF v_clamped IS NULL THEN
		COMMIT;
		SELECT 'same', NULL;
		LEAVE proc;
	END IF;
	-- The marks that move, with the reader's read mark, under the readers'
	-- member rows' locks.
	SELECT JSON_ARRAYAGG(JSON_OBJECT('c', j.c, 'u', j.u, 'd', j.q, 'r', m.last_read_seq))
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
	-- The receipts that are told: conversations within the fan-out limit
	-- (membership cannot change under the share locks).
	SELECT JSON_ARRAYAGG(JSON_OBJECT('c', x.c, 'u', x.u, 'd', x.d, 'r', x.r)) INTO v_told
		FROM JSON_TABLE(v_moved, '$[*]' COLUMNS (c BIGINT UNSIGNED PATH '$.c',
			u BIGINT UNSIGNED PATH '$.u', d BIGINT UNSIGNED PATH '$.d',
			r BIGINT UNSIGNED PATH '$.r')) x
		WHERE (SELECT COUNT(*) FROM members n WHERE n.conversation_id = x.c) <= p_fanout_max;
	IF v_told IS NULL THEN
		COMMIT;
		SELECT 'ok', NULL;
		LEAVE proc;
	END IF;
	-- One event per receipt to each other member; heads in user_id order.
	UPDATE (SELECT o.user_id, COUNT(*) AS k
			FROM JSON_TABLE(v_told, '$[*]' COLUMNS (c BIGINT UNSIGNED PATH '$.c',
				u BIGINT UNSIGNED PATH '$.u')) x
			STRAIGHT_JOIN members o FORCE INDEX (PRIMARY) ON o.conversation_id = x.c
			WHERE o.user_id <> x.u
			GROUP BY o.user_id) y
		STRAIGHT_JOIN user_heads h FORCE INDEX (PRIMARY) ON h.user_id = y.user_id
		SET h.last_seq = h.last_seq + y.k;
	INSERT INTO user_events (user_id, seq, type, conversation_id, ref_id, payload, created_at)
		SELECT o.user_id,
			h.last_seq - COUNT(*) OVER (PARTITION BY o.user_id)
				+ ROW_NUMBER() OVER (PARTITION BY o.user_id ORDER BY x.o),
			'receipt', x.c, NULL,
			CONCAT('{"user_id":', x.u, ',"delivered_seq":', x.d, ',"read_seq":', x.r, '}'),
			v_now
		FROM JSON_TABLE(v_told, '$[*]' COLUMNS (o FOR ORDINALITY,
			c BIGINT UNSIGNED PATH '$.c', u BIGINT UNSIGNED PATH '$.u',
			d BIGINT UNSIGNED PATH '$.d', r BIGINT UNSIGNED PATH '$.r')) x
		STRAIGHT_JOIN members o FORCE INDEX (PRIMARY) ON o.conversation_id = x.c
		STRAIGHT_JOIN user_heads h FORCE INDEX (PRIMARY) ON h.user_id = o.user_id
		WHERE o.user_id <> x.u;
	SELECT GROUP_CONCAT(DISTINCT o.user_id ORDER BY o.user_id SEPARATOR ',') INTO v_wake
		FROM JSON_TABLE(v_told, '$[*]' COLUMNS (c BIGINT UNSIGNED PATH '$.c',
			u BIGINT UNSIGNED PATH '$.u')) x
		STRAIGHT_JOIN members o FORCE INDEX (PRIMARY) ON o.conversation_id = x.c
		WHERE o.user_id <> x.u;
	COMMIT;
	SELECT 'ok', v_wake;
END //
DELIMITER ;
