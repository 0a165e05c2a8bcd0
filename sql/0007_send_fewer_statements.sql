-- msg_send with fewer statements for the conversations most messages go to.
-- Profiled at 32 concurrent senders, the procedure's CPU is spread over its
-- statements (each one opens, locks and plans its tables) and the
-- interpreted SET/IF steps between them, so the lever is their number:
-- - membership is checked by the sender's read-mark UPDATE itself (its
--   row count: the row always changes, as v_seq is above every read mark),
--   instead of a SELECT before it;
-- - one SELECT returns the member list, its size and its lowest and highest
--   id;
-- - a conversation of one or two members (direct messages) fans out with
--   one UPDATE of both heads and one INSERT .. SELECT of both events over an
--   IN list of primary keys, instead of two statements and five interpreted
--   steps per member. Three to eight members keep the per-member loop,
--   above that the set statements.
-- Same transaction, same locks in the same order (conversation row, the
-- sender's member row, heads in user_id order), same result row as 0005.

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
		WHERE id = p_cid;
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
DELIMITER ;
