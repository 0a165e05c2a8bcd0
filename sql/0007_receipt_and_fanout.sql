-- A delivered receipt in one round trip, as msg_send (0005) made sending:
-- the reader's delivered mark moves to seq (never past the conversation's
-- last message, never backwards) and, unless the conversation has more than
-- p_fanout_max members, a `receipt` event goes to every other member. The
-- conversation row is share-locked first: membership changes (which lock it
-- exclusively) wait, so the receipt goes to the members the mark was made
-- for, and a sender's next message waits only for this one short call.
--
-- The one result row: 'same' (nothing moved) or 'ok', and the members to
-- wake (user ids joined by commas; NULL when no event was written).
--
-- msg_send is redefined here on the same helper (its fan-out was 0006's).

-- events_fanout appends one event to the log of every member of p_cid but
-- p_exclude (0: none): p_uids lists them in user_id order (GROUP_CONCAT),
-- p_n of them. Each row takes its member's next seq. A few members get one
-- primary-key UPDATE and INSERT each (planned at once); more get two set
-- statements. Heads are always taken in user_id order, so concurrent
-- fan-outs do not deadlock. Runs inside the caller's transaction.
DROP PROCEDURE IF EXISTS events_fanout;

DELIMITER //
CREATE PROCEDURE events_fanout(IN p_cid BIGINT UNSIGNED, IN p_exclude BIGINT UNSIGNED,
	IN p_type VARCHAR(32) CHARACTER SET ascii, IN p_ref BIGINT UNSIGNED,
	IN p_payload TEXT CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci, IN p_uids MEDIUMTEXT,
	IN p_n INT, IN p_now DATETIME(3))
	MODIFIES SQL DATA
BEGIN
	DECLARE v_rest MEDIUMTEXT DEFAULT p_uids;
	DECLARE v_uid BIGINT UNSIGNED;
	DECLARE v_seq BIGINT UNSIGNED;
	DECLARE v_comma INT;
	IF p_n <= 8 THEN
		WHILE v_rest IS NOT NULL AND v_rest <> '' DO
			SET v_comma = LOCATE(',', v_rest);
			SET v_uid = CAST(IF(v_comma > 0, LEFT(v_rest, v_comma - 1), v_rest) AS UNSIGNED);
			SET v_rest = IF(v_comma > 0, SUBSTRING(v_rest, v_comma + 1), '');
			UPDATE user_heads SET last_seq = LAST_INSERT_ID(last_seq + 1) WHERE user_id = v_uid;
			IF ROW_COUNT() > 0 THEN
				SET v_seq = LAST_INSERT_ID();
				INSERT INTO user_events (user_id, seq, type, conversation_id, ref_id, payload,
					created_at) VALUES (v_uid, v_seq, p_type, p_cid, p_ref, p_payload, p_now);
			END IF;
		END WHILE;
	ELSE
		UPDATE user_heads h JOIN members m ON m.user_id = h.user_id
			SET h.last_seq = h.last_seq + 1 WHERE m.conversation_id = p_cid AND m.user_id <> p_exclude;
		INSERT INTO user_events (user_id, seq, type, conversation_id, ref_id, payload, created_at)
			SELECT h.user_id, h.last_seq, p_type, p_cid, p_ref, p_payload, p_now
			FROM members m JOIN user_heads h ON h.user_id = m.user_id
			WHERE m.conversation_id = p_cid AND m.user_id <> p_exclude;
	END IF;
END //
DELIMITER ;

DROP PROCEDURE IF EXISTS msg_delivered;

DELIMITER //
CREATE PROCEDURE msg_delivered(IN p_cid BIGINT UNSIGNED, IN p_uid BIGINT UNSIGNED,
	IN p_seq BIGINT UNSIGNED, IN p_fanout_max INT)
	MODIFIES SQL DATA
proc: BEGIN
	DECLARE v_last BIGINT UNSIGNED;
	DECLARE v_delivered BIGINT UNSIGNED;
	DECLARE v_read BIGINT UNSIGNED;
	DECLARE v_n INT DEFAULT 0;
	DECLARE v_uids MEDIUMTEXT;
	DECLARE v_payload VARCHAR(128);
	DECLARE v_now DATETIME(3) DEFAULT NOW(3);
	DECLARE EXIT HANDLER FOR SQLEXCEPTION
	BEGIN
		ROLLBACK;
		RESIGNAL;
	END;

	START TRANSACTION;
	SELECT last_seq INTO v_last FROM conversations WHERE id = p_cid LOCK IN SHARE MODE;
	UPDATE members SET delivered_seq = LEAST(p_seq, v_last)
		WHERE conversation_id = p_cid AND user_id = p_uid AND delivered_seq < LEAST(p_seq, v_last);
	IF ROW_COUNT() <= 0 THEN
		COMMIT;
		SELECT 'same', NULL;
		LEAVE proc;
	END IF;
	SELECT delivered_seq, last_read_seq INTO v_delivered, v_read
		FROM members WHERE conversation_id = p_cid AND user_id = p_uid;
	SELECT COUNT(*), GROUP_CONCAT(user_id ORDER BY user_id SEPARATOR ',') INTO v_n, v_uids
		FROM members WHERE conversation_id = p_cid AND user_id <> p_uid;
	IF v_n + 1 > p_fanout_max OR v_n = 0 THEN
		COMMIT;
		SELECT 'ok', NULL;
		LEAVE proc;
	END IF;
	SET v_payload = CONCAT('{"user_id":', p_uid, ',"delivered_seq":', v_delivered,
		',"read_seq":', v_read, '}');
	CALL events_fanout(p_cid, p_uid, 'receipt', NULL, v_payload, v_uids, v_n, v_now);
	COMMIT;
	SELECT 'ok', v_uids;
END //
DELIMITER ;

DROP PROCEDURE IF EXISTS msg_send;

DELIMITER //
CREATE PROCEDURE msg_send(IN p_cid BIGINT UNSIGNED, IN p_me BIGINT UNSIGNED,
	IN p_client_id VARCHAR(64) CHARACTER SET ascii, IN p_kind VARCHAR(16) CHARACTER SET ascii,
	IN p_body TEXT CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci, IN p_reply_to BIGINT UNSIGNED)
	MODIFIES SQL DATA
proc: BEGIN
	DECLARE v_seq BIGINT UNSIGNED;
	DECLARE v_id BIGINT UNSIGNED;
	DECLARE v_now DATETIME(3) DEFAULT NOW(3);
	DECLARE v_member INT DEFAULT 0;
	DECLARE v_uids MEDIUMTEXT;
	DECLARE v_n INT DEFAULT 0;
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

	-- Statements the optimizer settles at once (primary keys, no
	-- subqueries): on a busy server planning costs more than the writes.
	START TRANSACTION;
	-- Locks the conversation row: seq order is commit order, and
	-- membership changes (which lock it first) wait for us.
	UPDATE conversations SET last_seq = LAST_INSERT_ID(last_seq + 1), last_activity_at = v_now
		WHERE id = p_cid;
	SET v_seq = LAST_INSERT_ID();
	-- Read after the lock: sees every membership change committed before.
	SELECT COUNT(*) INTO v_member FROM members WHERE conversation_id = p_cid AND user_id = p_me;
	IF v_member = 0 THEN
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
	-- Whoever writes has read what came before.
	UPDATE members SET last_read_seq = v_seq, delivered_seq = GREATEST(delivered_seq, v_seq)
		WHERE conversation_id = p_cid AND user_id = p_me AND last_read_seq < v_seq;
	-- message.new to every member, the sender included (other devices).
	SELECT GROUP_CONCAT(user_id ORDER BY user_id SEPARATOR ','), COUNT(*) INTO v_uids, v_n
		FROM members WHERE conversation_id = p_cid;
	CALL events_fanout(p_cid, 0, 'message.new', v_id, NULL, v_uids, v_n, v_now);
	COMMIT;
	SELECT 'ok', v_id, DATE_FORMAT(v_now, '%Y-%m-%d %H:%i:%s.%f'), v_seq, v_uids;
END //
DELIMITER ;
