-- Closed direct conversations.
--
-- When one person of a direct conversation deletes their account, the
-- conversation stays with its history (members.test.mjs), but nobody can
-- read what is sent into it any more: a send there used to be stored and
-- answered 201 all the same. Now the account's deletion closes its direct
-- conversations (closed_at, in the deletion's transaction,
-- lib/db/users.c), and a send into a closed conversation is refused: the
-- conversation's seq is moved only WHERE closed_at IS NULL, so msg_send
-- answers 'closed' (403 conversation_closed; a retry of a message stored
-- before is still answered with it) and a batch holding such a send rolls
-- back and names it (msg_batch_misfits), which then goes alone. The check
-- is part of the conversation row's update every send already makes: no
-- statement more. The routines are their latest definitions (msg_send
-- 0007, msg_send_batch 0009, msg_batch_misfits 0012) with that change.

ALTER TABLE conversations ADD COLUMN IF NOT EXISTS closed_at DATETIME(3) NULL AFTER e2ee;

-- Direct conversations of accounts deleted before this migration.
UPDATE conversations c
	JOIN members m ON m.conversation_id = c.id
	JOIN users u ON u.id = m.user_id
	SET c.closed_at = u.deleted_at
	WHERE c.type = 'direct' AND u.deleted_at IS NOT NULL AND c.closed_at IS NULL;

DELIMITER //
CREATE OR REPLACE PROCEDURE msg_send(IN p_cid BIGINT UNSIGNED, IN p_me BIGINT UNSIGNED,
	IN p_client_id VARCHAR(64) CHARACTER SET ascii, IN p_kind VARCHAR(16) CHARACTER SET ascii,
	IN p_body TEXT CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci, IN p_reply_to BIGINT UNSIGNED)
	MODIFIES SQL DATA
proc: BEGIN
	DECLARE v_seq BIGINT UNSIGNED;
	DECLARE v_id BIGINT UNSIGNED;
	DECLARE v_now DATETIME(3) DEFAULT NOW(3);
	DECLARE v_uids MEDIUMTEXT;
	DECLARE v_n INT DEFAULT 0;
	DECLARE v_lo BIGINT UNSIGNED;
	DECLARE v_hi BIGINT UNSIGNED;
	DECLARE v_rest MEDIUMTEXT;
	DECLARE v_uid BIGINT UNSIGNED;
	DECLARE v_useq BIGINT UNSIGNED;
	DECLARE v_comma INT;
	-- A retried client_id: the caller answers with the first message.
	DECLARE EXIT HANDLER FOR 1062
	BEGIN
		ROLLBACK;
		SELECT 'duplicate', 0, NULL, 0, NULL;
	END;
	DECLARE EXIT HANDLER FOR SQLEXCEPTION
	BEGIN
		ROLLBACK;
		RESIGNAL;
	END;

	START TRANSACTION;
	-- Locks the conversation row: seq order is commit order, and
	-- membership changes (which lock it first) wait for us.
	UPDATE conversations SET last_seq = LAST_INSERT_ID(last_seq + 1), last_activity_at = v_now
		WHERE id = p_cid AND closed_at IS NULL;
	IF ROW_COUNT() = 0 THEN
		ROLLBACK;
		IF EXISTS (SELECT 1 FROM members WHERE conversation_id = p_cid AND user_id = p_me) THEN
			SELECT 'closed', 0, NULL, 0, NULL;
		ELSE
			SELECT 'not_found', 0, NULL, 0, NULL;
		END IF;
		LEAVE proc;
	END IF;
	SET v_seq = LAST_INSERT_ID();
	-- Whoever writes has read what came before. Read after the lock, so it
	-- sees every membership change committed before; no row, no member.
	UPDATE members SET last_read_seq = GREATEST(last_read_seq, v_seq),
		delivered_seq = GREATEST(delivered_seq, v_seq)
		WHERE conversation_id = p_cid AND user_id = p_me;
	IF ROW_COUNT() = 0 THEN
		ROLLBACK;
		SELECT 'not_found', 0, NULL, 0, NULL;
		LEAVE proc;
	END IF;
	IF p_reply_to IS NOT NULL AND NOT EXISTS (SELECT 1 FROM messages
			WHERE id = p_reply_to AND conversation_id = p_cid) THEN
		ROLLBACK;
		SELECT 'reply_to', 0, NULL, 0, NULL;
		LEAVE proc;
	END IF;
	INSERT INTO messages (conversation_id, seq, sender_id, client_id, kind, body, reply_to,
		created_at) VALUES (p_cid, v_seq, p_me, p_client_id, p_kind, p_body, p_reply_to, v_now);
	SET v_id = LAST_INSERT_ID();
	-- message.new to every member, the sender included (other devices).
	SELECT GROUP_CONCAT(user_id ORDER BY user_id SEPARATOR ','), COUNT(*), MIN(user_id),
		MAX(user_id) INTO v_uids, v_n, v_lo, v_hi
		FROM members WHERE conversation_id = p_cid;
	IF v_n <= 2 THEN
		-- Heads are locked in user_id order, as everywhere else.
		UPDATE user_heads SET last_seq = last_seq + 1 WHERE user_id IN (v_lo, v_hi);
		INSERT INTO user_events (user_id, seq, type, conversation_id, ref_id, payload, created_at)
			SELECT user_id, last_seq, 'message.new', p_cid, v_id, NULL, v_now
			FROM user_heads WHERE user_id IN (v_lo, v_hi);
	ELSEIF v_n <= 8 THEN
		SET v_rest = v_uids;
		WHILE v_rest <> '' DO
			SET v_comma = LOCATE(',', v_rest);
			SET v_uid = CAST(IF(v_comma > 0, LEFT(v_rest, v_comma - 1), v_rest) AS UNSIGNED);
			SET v_rest = IF(v_comma > 0, SUBSTRING(v_rest, v_comma + 1), '');
			UPDATE user_heads SET last_seq = LAST_INSERT_ID(last_seq + 1) WHERE user_id = v_uid;
			IF ROW_COUNT() > 0 THEN
				SET v_useq = LAST_INSERT_ID();
				INSERT INTO user_events (user_id, seq, type, conversation_id, ref_id, payload,
					created_at) VALUES (v_uid, v_useq, 'message.new', p_cid, v_id, NULL, v_now);
			END IF;
		END WHILE;
	ELSE
		UPDATE user_heads h JOIN members m ON m.user_id = h.user_id
			SET h.last_seq = h.last_seq + 1 WHERE m.conversation_id = p_cid;
		INSERT INTO user_events (user_id, seq, type, conversation_id, ref_id, payload, created_at)
			SELECT h.user_id, h.last_seq, 'message.new', p_cid, v_id, NULL, v_now
			FROM members m JOIN user_heads h ON h.user_id = m.user_id
			WHERE m.conversation_id = p_cid;
	END IF;
	COMMIT;
	SELECT 'ok', v_id, DATE_FORMAT(v_now, '%Y-%m-%d %H:%i:%s.%f'), v_seq, v_uids;
END //

CREATE OR REPLACE PROCEDURE msg_send_batch(IN p_batch LONGTEXT CHARACTER SET utf8mb4,
	IN p_convs INT, IN p_pairs INT)
	MODIFIES SQL DATA
proc: BEGIN
	DECLARE v_now DATETIME(3) DEFAULT NOW(3);
	DECLARE v_out LONGTEXT;
	DECLARE EXIT HANDLER FOR 1062
	BEGIN
		ROLLBACK;
		SELECT 'alone', NULL, NULL;
	END;
	DECLARE EXIT HANDLER FOR SQLEXCEPTION
	BEGIN
		ROLLBACK;
		RESIGNAL;
	END;

	-- A batch's list below holds a line per message and member (32
	-- messages to groups of 1,000: about 1 MB, the default limit).
	SET SESSION group_concat_max_len = 16777216;
	START TRANSACTION;
	-- Every statement is driven by the batch (JSON_TABLE first, then
	-- STRAIGHT_JOIN over primary or unique keys): left to itself the
	-- optimizer scans a small table, and an UPDATE locks every row it
	-- scans.
	-- Each conversation's seq moves past all of the batch's messages to it
	-- (a row matched by several messages is updated once).
	UPDATE JSON_TABLE(p_batch, '$[*]' COLUMNS (c BIGINT UNSIGNED PATH '$.c',
			k INT PATH '$.k')) j
		STRAIGHT_JOIN conversations c FORCE INDEX (PRIMARY) ON c.id = j.c
		SET c.last_seq = c.last_seq + j.k, c.last_activity_at = v_now
		WHERE c.closed_at IS NULL;
	IF ROW_COUNT() <> p_convs THEN
		ROLLBACK;
		SELECT 'alone', NULL, NULL;
		LEAVE proc;
	END IF;
	-- A sender has read up to their own last message of the batch; no
	-- member row, not a member (as in msg_send, the row always changes).
	UPDATE JSON_TABLE(p_batch, '$[*]' COLUMNS (c BIGINT UNSIGNED PATH '$.c',
			s BIGINT UNSIGNED PATH '$.s', k INT PATH '$.k', l INT PATH '$.l')) j
		STRAIGHT_JOIN conversations c FORCE INDEX (PRIMARY) ON c.id = j.c
		STRAIGHT_JOIN members m FORCE INDEX (PRIMARY) ON m.conversation_id = j.c AND m.user_id = j.s
		SET m.last_read_seq = GREATEST(m.last_read_seq, c.last_seq - j.k + j.l),
			m.delivered_seq = GREATEST(m.delivered_seq, c.last_seq - j.k + j.l);
	IF ROW_COUNT() <> p_pairs THEN
		ROLLBACK;
		SELECT 'alone', NULL, NULL;
		LEAVE proc;
	END IF;
	INSERT INTO messages (conversation_id, seq, sender_id, client_id, kind, body, reply_to,
		created_at)
		SELECT j.c, c.last_seq - j.k + j.r, j.s, j.i, j.t, j.b, NULL, v_now
		FROM JSON_TABLE(p_batch, '$[*]' COLUMNS (o FOR ORDINALITY,
			c BIGINT UNSIGNED PATH '$.c', s BIGINT UNSIGNED PATH '$.s',
			i VARCHAR(64) CHARACTER SET ascii PATH '$.i',
			t VARCHAR(16) CHARACTER SET ascii PATH '$.t',
			b MEDIUMTEXT CHARACTER SET utf8mb4 PATH '$.b',
			r INT PATH '$.r', k INT PATH '$.k')) j
		STRAIGHT_JOIN conversations c FORCE INDEX (PRIMARY) ON c.id = j.c
		ORDER BY j.o;
	-- message.new to every member of each conversation, once per message;
	-- heads are locked in user_id order (GROUP BY sorts), as everywhere.
	UPDATE (SELECT m.user_id, COUNT(*) AS k
			FROM JSON_TABLE(p_batch, '$[*]' COLUMNS (c BIGINT UNSIGNED PATH '$.c')) j
			STRAIGHT_JOIN members m FORCE INDEX (PRIMARY) ON m.conversation_id = j.c
			GROUP BY m.user_id) x
		STRAIGHT_JOIN user_heads h FORCE INDEX (PRIMARY) ON h.user_id = x.user_id
		SET h.last_seq = h.last_seq + x.k;
	-- A member's events of this batch take the seqs below their new head,
	-- in batch order (which is seq order within a conversation).
	INSERT INTO user_events (user_id, seq, type, conversation_id, ref_id, payload, created_at)
		SELECT m.user_id,
			h.last_seq - COUNT(*) OVER (PARTITION BY m.user_id)
				+ ROW_NUMBER() OVER (PARTITION BY m.user_id ORDER BY j.o),
			'message.new', j.c, msg.id, NULL, v_now
		FROM JSON_TABLE(p_batch, '$[*]' COLUMNS (o FOR ORDINALITY,
			c BIGINT UNSIGNED PATH '$.c', r INT PATH '$.r', k INT PATH '$.k')) j
		STRAIGHT_JOIN conversations c FORCE INDEX (PRIMARY) ON c.id = j.c
		STRAIGHT_JOIN messages msg FORCE INDEX (uq_conv_seq) ON msg.conversation_id = j.c
			AND msg.seq = c.last_seq - j.k + j.r
		STRAIGHT_JOIN members m FORCE INDEX (PRIMARY) ON m.conversation_id = j.c
		STRAIGHT_JOIN user_heads h FORCE INDEX (PRIMARY) ON h.user_id = m.user_id;
	-- What the caller needs, read under the conversation locks (as
	-- msg_send): "position:id:seq:member" for each message and member, in
	-- batch and user_id order.
	SELECT GROUP_CONCAT(j.o, ':', msg.id, ':', msg.seq, ':', m.user_id
			ORDER BY j.o, m.user_id SEPARATOR ',') INTO v_out
		FROM JSON_TABLE(p_batch, '$[*]' COLUMNS (o FOR ORDINALITY,
			c BIGINT UNSIGNED PATH '$.c', r INT PATH '$.r', k INT PATH '$.k')) j
		STRAIGHT_JOIN conversations c FORCE INDEX (PRIMARY) ON c.id = j.c
		STRAIGHT_JOIN messages msg FORCE INDEX (uq_conv_seq) ON msg.conversation_id = j.c
			AND msg.seq = c.last_seq - j.k + j.r
		STRAIGHT_JOIN members m FORCE INDEX (PRIMARY) ON m.conversation_id = j.c;
	COMMIT;
	SELECT 'ok', DATE_FORMAT(v_now, '%Y-%m-%d %H:%i:%s.%f'), v_out;
END //

CREATE OR REPLACE FUNCTION msg_batch_misfits(p_batch LONGTEXT CHARACTER SET utf8mb4)
	RETURNS TEXT CHARACTER SET ascii
	READS SQL DATA
BEGIN
	DECLARE v_bad TEXT CHARACTER SET ascii;
	SELECT GROUP_CONCAT(j.o ORDER BY j.o SEPARATOR ',') INTO v_bad
		FROM JSON_TABLE(p_batch, '$[*]' COLUMNS (o FOR ORDINALITY,
			c BIGINT UNSIGNED PATH '$.c', s BIGINT UNSIGNED PATH '$.s',
			i VARCHAR(64) CHARACTER SET ascii PATH '$.i')) j
		WHERE NOT EXISTS (SELECT 1 FROM members m
				WHERE m.conversation_id = j.c AND m.user_id = j.s)
			OR EXISTS (SELECT 1 FROM messages x
				WHERE x.sender_id = j.s AND x.client_id = j.i COLLATE ascii_bin)
			OR EXISTS (SELECT 1 FROM conversations c
				WHERE c.id = j.c AND c.closed_at IS NOT NULL);
	RETURN v_bad;
END //
DELIMITER ;
