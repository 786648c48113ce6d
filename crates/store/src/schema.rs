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
);
