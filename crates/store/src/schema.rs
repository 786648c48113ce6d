//! The tables, as diesel sees them. Names are part of the contract:
//! operators and tests query them.

diesel::table! {
    sources (name) {
        name -> Text,
        provider -> Text,
        enabled -> Bool,
        created_at -> Timestamptz,
        last_received_at -> Nullable<Timestamptz>,
        allow_unsigned -> Bool,
        allowed_networks -> Nullable<Array<Cidr>>,
        /// The PBX's IANA time zone (CDR times, "today").
        timezone -> Text,
    }
}

diesel::table! {
    source_secrets (id) {
        id -> Int8,
        source -> Text,
        /// Plaintext, only in rows from before sealing (`ciphertext` NULL).
        secret -> Nullable<Text>,
        created_at -> Timestamptz,
        revoked_at -> Nullable<Timestamptz>,
        ciphertext -> Nullable<Bytea>,
        nonce -> Nullable<Bytea>,
        key_id -> Nullable<Text>,
        fingerprint -> Nullable<Bytea>,
        expires_at -> Nullable<Timestamptz>,
    }
}

diesel::table! {
    webhook_events (id) {
        id -> Int8,
        source -> Text,
        event_type -> Nullable<Text>,
        body -> Bytea,
        headers -> Jsonb,
        dedup_key -> Text,
        provider -> Nullable<Text>,
        received_at -> Timestamptz,
        processed_at -> Nullable<Timestamptz>,
        outcome -> Nullable<Text>,
        attempts -> Int4,
        last_error -> Nullable<Text>,
        next_attempt_at -> Nullable<Timestamptz>,
        dead_at -> Nullable<Timestamptz>,
    }
}

diesel::table! {
    calls (id) {
        id -> Int8,
        source -> Text,
        call_id -> Text,
        status -> Text,
        direction -> Nullable<Text>,
        from_number -> Nullable<Text>,
        to_number -> Nullable<Text>,
        info_seq -> Nullable<Int8>,
        started_at -> Nullable<Timestamptz>,
        answered_at -> Nullable<Timestamptz>,
        ended_at -> Nullable<Timestamptz>,
        talk_seconds -> Nullable<Int4>,
        duration_seconds -> Nullable<Int4>,
        disposition -> Nullable<Text>,
        recording_url -> Nullable<Text>,
        events -> Int4,
        created_at -> Timestamptz,
        updated_at -> Timestamptz,
        started_from_cdr -> Bool,
        answered_from_cdr -> Bool,
        failure_reason -> Nullable<Text>,
        failure_seq -> Nullable<Int8>,
        /// answered, abandoned, no_answer, busy, failed, voicemail; NULL
        /// while it goes on unanswered.
        outcome -> Nullable<Text>,
    }
}

diesel::table! {
    call_legs (id) {
        id -> Int8,
        source -> Text,
        call_id -> Text,
        leg_id -> Text,
        kind -> Text,
        extension -> Nullable<Text>,
        party -> Nullable<Text>,
        state -> Text,
        on_hold -> Bool,
        hold_seq -> Nullable<Int8>,
        started_at -> Nullable<Timestamptz>,
        answered_at -> Nullable<Timestamptz>,
        ended_at -> Nullable<Timestamptz>,
        updated_at -> Timestamptz,
        channel_id -> Nullable<Text>,
        /// The call's start and outcome, copied for the history by extension.
        call_start -> Nullable<Timestamptz>,
        call_outcome -> Nullable<Text>,
    }
}

diesel::table! {
    extensions (id) {
        id -> Int8,
        source -> Text,
        number -> Text,
        name -> Nullable<Text>,
        status -> Text,
        registered -> Nullable<Bool>,
        registered_seq -> Nullable<Int8>,
        reported_status -> Nullable<Text>,
        reported_seq -> Nullable<Int8>,
        last_seen -> Nullable<Timestamptz>,
        updated_at -> Timestamptz,
        presence -> Nullable<Text>,
        presence_seq -> Nullable<Int8>,
        reported_at -> Nullable<Timestamptz>,
        leg_seen_at -> Nullable<Timestamptz>,
    }
}

diesel::table! {
    /// Registration per device of an extension (Yeastar 30007 `kind`).
    extension_devices (id) {
        id -> Int8,
        source -> Text,
        number -> Text,
        kind -> Text,
        registered -> Bool,
        seq -> Int8,
        at -> Timestamptz,
        updated_at -> Timestamptz,
    }
}

diesel::table! {
    /// The queues (or ring groups) each call went through.
    call_queues (id) {
        id -> Int8,
        source -> Text,
        call_id -> Text,
        queue -> Text,
        entered_at -> Timestamptz,
        connected_at -> Nullable<Timestamptz>,
        answered_at -> Nullable<Timestamptz>,
        agent -> Nullable<Text>,
        ended_at -> Nullable<Timestamptz>,
        /// waiting, answered, abandoned, left.
        outcome -> Text,
        updated_at -> Timestamptz,
    }
}

diesel::table! {
    /// Per-queue settings (the service level threshold).
    queue_settings (source, queue) {
        source -> Text,
        queue -> Text,
        sla_seconds -> Int4,
        updated_at -> Timestamptz,
    }
}

diesel::table! {
    /// Agents per queue: the status the PBX reports, the last ring timeout.
    queue_agents (id) {
        id -> Int8,
        source -> Text,
        queue -> Text,
        agent -> Text,
        status -> Nullable<Text>,
        reason -> Nullable<Text>,
        status_seq -> Nullable<Int8>,
        status_at -> Nullable<Timestamptz>,
        ring_timeout_at -> Nullable<Timestamptz>,
        ring_timeout_call -> Nullable<Text>,
        ring_timeout_seq -> Nullable<Int8>,
        updated_at -> Timestamptz,
    }
}

diesel::table! {
    /// The missed calls to return, one entry per source and number.
    missed_calls (id) {
        id -> Int8,
        source -> Text,
        number -> Text,
        missed_count -> Int4,
        first_at -> Nullable<Timestamptz>,
        last_at -> Nullable<Timestamptz>,
        last_call_id -> Nullable<Text>,
        last_reason -> Nullable<Text>,
        answered_at -> Nullable<Timestamptz>,
        done_through -> Nullable<Timestamptz>,
        done_at -> Nullable<Timestamptz>,
        done_by -> Nullable<Text>,
        updated_at -> Timestamptz,
    }
}

diesel::table! {
    /// The audit of operators marking missed calls done.
    missed_call_actions (id) {
        id -> Int8,
        at -> Timestamptz,
        user_name -> Text,
        source -> Text,
        number -> Text,
        action -> Text,
        missed_count -> Int4,
        done_through -> Nullable<Timestamptz>,
        last_call_id -> Nullable<Text>,
    }
}

diesel::table! {
    /// uaCSTA call reports (Yeastar 30020), apart from `calls`: their call
    /// ids are another id space.
    csta_calls (id) {
        id -> Int8,
        source -> Text,
        call_id -> Text,
        csta_event -> Text,
        csta_seq -> Int8,
        extension -> Nullable<Text>,
        ip_address -> Nullable<Text>,
        updated_at -> Timestamptz,
    }
}

diesel::allow_tables_to_appear_in_same_query!(
    sources,
    source_secrets,
    webhook_events,
    calls,
    call_legs,
    extensions,
    csta_calls,
    extension_devices,
    call_queues,
    queue_settings,
    queue_agents,
    missed_calls,
    missed_call_actions,
);
