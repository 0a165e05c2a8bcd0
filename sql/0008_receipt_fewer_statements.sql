-- msg_delivered with fewer statements, as 0007 did for msg_send: the
-- reader's read mark, the other members, their count and their lowest and
-- highest id come from one SELECT over the conversation's members (was two),
-- and a receipt to one or two others (direct conversations) is one UPDATE of
-- their heads and one INSERT .. SELECT of their events over an IN list of
-- primary keys instead of the interpreted per-member loop. Same locks in the
-- same order, same result row as 0006.

DELIMITER //
CREATE OR REPLACE PROCEDURE msg_delivered(IN p_cid BIGINT UNSIGNED, IN p_uid BIGINT UNSIGNED,
	IN p_seq BIGINT UNSIGNED, IN p_fanout_max INT)
	MODIFIES SQL DATA
proc: BEGIN
	DECLARE v_last BIGINT UNSIGNED;
	DECLARE v_delivered BIGINT UNSIGNED;
	DECLARE v_read BIGINT UNSIGNED;
	DECLARE v_n INT DEFAULT 0;
	DECLARE v_uids MEDIUMTEXT;
	DECLARE v_lo BIGINT UNSIGNED;
	DECLARE v_hi BIGINT UNSIGNED;
	DECLARE v_rest MEDIUMTEXT;
	DECLARE v_uid BIGINT UNSIGNED;
	DECLARE v_useq BIGINT UNSIGNED;
	DECLARE v_comma INT;
	DECLARE v_payload VARCHAR(128);
	DECLARE v_now DATETIME(3) DEFAULT NOW(3);
	DECLARE EXIT HANDLER FOR SQLEXCEPTION
	BEGIN
		ROLLBACK;
		RESIGNAL;
	END;

	START TRANSACTION;
	SELECT last_seq INTO v_last FROM conversations WHERE id = p_cid LOCK IN SHARE MODE;
	SET v_delivered = LEAST(p_seq, v_last);
	UPDATE members SET delivered_seq = v_delivered
		WHERE conversation_id = p_cid AND user_id = p_uid AND delivered_seq < v_delivered;
	IF ROW_COUNT() <= 0 THEN
		COMMIT;
		SELECT 'same', NULL;
		LEAVE proc;
	END IF;
	SELECT MAX(IF(user_id = p_uid, last_read_seq, NULL)), SUM(user_id <> p_uid),
		GROUP_CONCAT(IF(user_id <> p_uid, user_id, NULL) ORDER BY user_id SEPARATOR ','),
		MIN(IF(user_id <> p_uid, user_id, NULL)), MAX(IF(user_id <> p_uid, user_id, NULL))
		INTO v_read, v_n, v_uids, v_lo, v_hi
		FROM members WHERE conversation_id = p_cid;
	IF v_n + 1 > p_fanout_max OR v_n = 0 THEN
		COMMIT;
		SELECT 'ok', NULL;
		LEAVE proc;
	END IF;
	SET v_payload = CONCAT('{"user_id":', p_uid, ',"delivered_seq":', v_delivered,
		',"read_seq":', v_read, '}');
	IF v_n <= 2 THEN
		-- Heads in user_id order, as every fan-out takes them.
		UPDATE user_heads SET last_seq = last_seq + 1 WHERE user_id IN (v_lo, v_hi);
		INSERT INTO user_events (user_id, seq, type, conversation_id, ref_id, payload, created_at)
			SELECT user_id, last_seq, 'receipt', p_cid, NULL, v_payload, v_now
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
					created_at) VALUES (v_uid, v_useq, 'receipt', p_cid, NULL, v_payload, v_now);
			END IF;
		END WHILE;
	ELSE
		UPDATE user_heads h JOIN members m ON m.user_id = h.user_id
			SET h.last_seq = h.last_seq + 1 WHERE m.conversation_id = p_cid AND m.user_id <> p_uid;
		INSERT INTO user_events (user_id, seq, type, conversation_id, ref_id, payload, created_at)
			SELECT h.user_id, h.last_seq, 'receipt', p_cid, NULL, v_payload, v_now
			FROM members m JOIN user_heads h ON h.user_id = m.user_id
			WHERE m.conversation_id = p_cid AND m.user_id <> p_uid;
	END IF;
	COMMIT;
	SELECT 'ok', v_uids;
END //
DELIMITER ;
