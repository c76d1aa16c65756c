-- The customer database as migrations 0001-0009 left it before they were squashed
-- (commit b82878d; pg_dump --schema-only --no-owner --no-privileges), at revision 0009.
SET statement_timeout = 0;
SET lock_timeout = 0;
SET idle_in_transaction_session_timeout = 0;
SET client_encoding = 'UTF8';
SET standard_conforming_strings = on;
SELECT pg_catalog.set_config('search_path', '', false);
SET check_function_bodies = false;
SET xmloption = content;
SET client_min_messages = warning;
SET row_security = off;

CREATE EXTENSION IF NOT EXISTS pg_trgm WITH SCHEMA public;

COMMENT ON EXTENSION pg_trgm IS 'text similarity measurement and index searching based on trigrams';

SET default_tablespace = '';

SET default_table_access_method = heap;

CREATE TABLE public.account_team (
    id integer NOT NULL,
    customer_id character varying(36) NOT NULL,
    user_id character varying(36) NOT NULL,
    role character varying(50) NOT NULL,
    added_at timestamp with time zone NOT NULL
);

CREATE SEQUENCE public.account_team_id_seq
    AS integer
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1;

ALTER SEQUENCE public.account_team_id_seq OWNED BY public.account_team.id;

CREATE TABLE public.alembic_version (
    version_num character varying(32) NOT NULL
);

CREATE TABLE public.assignment_rules (
    id character varying(36) NOT NULL,
    kind character varying(20) NOT NULL,
    config json NOT NULL,
    priority integer NOT NULL,
    active boolean NOT NULL,
    version integer NOT NULL,
    created_at timestamp with time zone NOT NULL
);

CREATE TABLE public.code_sequences (
    name character varying(50) NOT NULL,
    next_value integer NOT NULL
);

CREATE TABLE public.contacts (
    id character varying(36) NOT NULL,
    customer_id character varying(36) NOT NULL,
    name character varying(100) NOT NULL,
    title character varying(100),
    phones json NOT NULL,
    email character varying(320),
    birthday date,
    hobbies character varying(500),
    is_decision_maker boolean NOT NULL,
    notes text,
    marketing_opt_out boolean NOT NULL,
    version integer NOT NULL,
    created_at timestamp with time zone NOT NULL,
    updated_at timestamp with time zone NOT NULL
);

CREATE TABLE public.customer_categories (
    id character varying(36) NOT NULL,
    dimension character varying(20) NOT NULL,
    name character varying(100) NOT NULL,
    description character varying(500),
    retired_at timestamp with time zone,
    version integer NOT NULL,
    created_at timestamp with time zone NOT NULL
);

CREATE TABLE public.customer_history (
    id integer NOT NULL,
    customer_id character varying(36) NOT NULL,
    occurred_at timestamp with time zone NOT NULL,
    actor_id character varying(36),
    kind character varying(20) NOT NULL,
    changes json NOT NULL,
    reason character varying(200)
);

CREATE SEQUENCE public.customer_history_id_seq
    AS integer
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1;

ALTER SEQUENCE public.customer_history_id_seq OWNED BY public.customer_history.id;

CREATE TABLE public.customer_keys (
    key character varying(400) NOT NULL,
    customer_id character varying(36) NOT NULL
);

CREATE TABLE public.customers (
    id character varying(36) NOT NULL,
    code character varying(32) NOT NULL,
    name character varying(200) NOT NULL,
    kind character varying(10) NOT NULL,
    phones json NOT NULL,
    emails json NOT NULL,
    tax_id character varying(40),
    industry character varying(100),
    province character varying(50),
    city character varying(50),
    district character varying(50),
    region_band character varying(10),
    address character varying(500),
    website character varying(300),
    legal_representative character varying(100),
    registered_capital numeric(18,2),
    business_scope text,
    size character varying(50),
    source character varying(100),
    credit_note text,
    category_ids json NOT NULL,
    tags json NOT NULL,
    attributes json NOT NULL,
    owner_id character varying(36),
    owner_team_id character varying(36),
    status character varying(10) NOT NULL,
    merged_into_id character varying(36),
    tier character varying(1),
    rfm_recency integer,
    rfm_frequency integer,
    rfm_monetary integer,
    lifecycle character varying(10) NOT NULL,
    stage character varying(10) NOT NULL,
    volume_class character varying(12) NOT NULL,
    paid_revenue numeric(18,2) NOT NULL,
    paid_orders integer NOT NULL,
    last_purchase_at timestamp with time zone,
    last_visit_at timestamp with time zone,
    last_followup_at timestamp with time zone,
    last_activity_at timestamp with time zone NOT NULL,
    search_text text NOT NULL,
    version integer NOT NULL,
    created_by character varying(36),
    created_at timestamp with time zone NOT NULL,
    updated_at timestamp with time zone NOT NULL,
    search_bigrams text[] NOT NULL,
    search_digit_grams text[] NOT NULL,
    search_letter_grams text[] NOT NULL
);
ALTER TABLE ONLY public.customers ALTER COLUMN search_text SET STATISTICS 1000;

CREATE TABLE public.followups (
    id character varying(36) NOT NULL,
    customer_id character varying(36) NOT NULL,
    owner_id character varying(36) NOT NULL,
    method character varying(20) NOT NULL,
    occurred_at timestamp with time zone NOT NULL,
    contact_id character varying(36),
    content text NOT NULL,
    result text,
    next_followup_on date,
    next_done boolean NOT NULL,
    created_at timestamp with time zone NOT NULL
);

CREATE TABLE public.inbox (
    consumer character varying(200) NOT NULL,
    event_id character varying(64) NOT NULL,
    event_type character varying(200) NOT NULL,
    processed_at timestamp with time zone NOT NULL
);

CREATE TABLE public.outbox (
    id character varying(36) NOT NULL,
    exchange character varying(200) NOT NULL,
    routing_key character varying(200) NOT NULL,
    body text NOT NULL,
    headers text NOT NULL,
    created_at timestamp with time zone NOT NULL,
    attempts integer NOT NULL
);

CREATE TABLE public.segments (
    id character varying(36) NOT NULL,
    name character varying(200) NOT NULL,
    description character varying(1000),
    conditions json NOT NULL,
    owner_id character varying(36) NOT NULL,
    version integer NOT NULL,
    created_at timestamp with time zone NOT NULL,
    updated_at timestamp with time zone NOT NULL
);

CREATE TABLE public.settings (
    name character varying(100) NOT NULL,
    value json NOT NULL,
    version integer NOT NULL
);

CREATE TABLE public.staff (
    id character varying(36) NOT NULL,
    display_name character varying(200) NOT NULL,
    team_id character varying(36),
    is_active boolean NOT NULL,
    is_new_staff boolean NOT NULL,
    roles json NOT NULL,
    last_assigned_at timestamp with time zone
);

CREATE TABLE public.staff_teams (
    id character varying(36) NOT NULL,
    name character varying(200) NOT NULL,
    parent_id character varying(36),
    manager_id character varying(36)
);

CREATE TABLE public.visit_plans (
    id character varying(36) NOT NULL,
    customer_id character varying(36) NOT NULL,
    owner_id character varying(36) NOT NULL,
    purpose character varying(200) NOT NULL,
    content text,
    planned_at timestamp with time zone NOT NULL,
    status character varying(20) NOT NULL,
    contact_id character varying(36),
    appointment_at timestamp with time zone,
    visited_at timestamp with time zone,
    record text,
    report text,
    reviewer_id character varying(36),
    review_comment text,
    reviewed_at timestamp with time zone,
    version integer NOT NULL,
    created_at timestamp with time zone NOT NULL,
    updated_at timestamp with time zone NOT NULL
);

ALTER TABLE ONLY public.account_team ALTER COLUMN id SET DEFAULT nextval('public.account_team_id_seq'::regclass);

ALTER TABLE ONLY public.customer_history ALTER COLUMN id SET DEFAULT nextval('public.customer_history_id_seq'::regclass);

ALTER TABLE ONLY public.account_team
    ADD CONSTRAINT account_team_customer_id_user_id_key UNIQUE (customer_id, user_id);

ALTER TABLE ONLY public.account_team
    ADD CONSTRAINT account_team_pkey PRIMARY KEY (id);

ALTER TABLE ONLY public.alembic_version
    ADD CONSTRAINT alembic_version_pkc PRIMARY KEY (version_num);

ALTER TABLE ONLY public.assignment_rules
    ADD CONSTRAINT assignment_rules_pkey PRIMARY KEY (id);

ALTER TABLE ONLY public.code_sequences
    ADD CONSTRAINT code_sequences_pkey PRIMARY KEY (name);

ALTER TABLE ONLY public.contacts
    ADD CONSTRAINT contacts_pkey PRIMARY KEY (id);

ALTER TABLE ONLY public.customer_categories
    ADD CONSTRAINT customer_categories_dimension_name_key UNIQUE (dimension, name);

ALTER TABLE ONLY public.customer_categories
    ADD CONSTRAINT customer_categories_pkey PRIMARY KEY (id);

ALTER TABLE ONLY public.customer_history
    ADD CONSTRAINT customer_history_pkey PRIMARY KEY (id);

ALTER TABLE ONLY public.customer_keys
    ADD CONSTRAINT customer_keys_pkey PRIMARY KEY (key);

ALTER TABLE ONLY public.customers
    ADD CONSTRAINT customers_code_key UNIQUE (code);

ALTER TABLE ONLY public.customers
    ADD CONSTRAINT customers_pkey PRIMARY KEY (id);

ALTER TABLE ONLY public.followups
    ADD CONSTRAINT followups_pkey PRIMARY KEY (id);

ALTER TABLE ONLY public.inbox
    ADD CONSTRAINT inbox_pkey PRIMARY KEY (consumer, event_id);

ALTER TABLE ONLY public.outbox
    ADD CONSTRAINT outbox_pkey PRIMARY KEY (id);

ALTER TABLE ONLY public.segments
    ADD CONSTRAINT segments_pkey PRIMARY KEY (id);

ALTER TABLE ONLY public.settings
    ADD CONSTRAINT settings_pkey PRIMARY KEY (name);

ALTER TABLE ONLY public.staff
    ADD CONSTRAINT staff_pkey PRIMARY KEY (id);

ALTER TABLE ONLY public.staff_teams
    ADD CONSTRAINT staff_teams_pkey PRIMARY KEY (id);

ALTER TABLE ONLY public.visit_plans
    ADD CONSTRAINT visit_plans_pkey PRIMARY KEY (id);

CREATE INDEX ix_account_team_customer_id ON public.account_team USING btree (customer_id);

CREATE INDEX ix_account_team_user_id ON public.account_team USING btree (user_id);

CREATE INDEX ix_contacts_customer_id ON public.contacts USING btree (customer_id);

CREATE INDEX ix_customer_history_customer ON public.customer_history USING btree (customer_id, id);

CREATE INDEX ix_customer_keys_customer_id ON public.customer_keys USING btree (customer_id);

CREATE INDEX ix_customers_created ON public.customers USING btree (created_at, id);

CREATE INDEX ix_customers_industry ON public.customers USING btree (industry);

CREATE INDEX ix_customers_name ON public.customers USING btree (name);

CREATE INDEX ix_customers_owner_created ON public.customers USING btree (owner_id, created_at);

CREATE INDEX ix_customers_owner_team_id ON public.customers USING btree (owner_team_id);

CREATE INDEX ix_customers_pool ON public.customers USING btree (owner_id, last_activity_at);

CREATE INDEX ix_customers_pool_created ON public.customers USING btree (created_at, id) WHERE (owner_id IS NULL);

CREATE INDEX ix_customers_province ON public.customers USING btree (province);

CREATE INDEX ix_customers_search_bigrams ON public.customers USING gin (search_bigrams);

CREATE INDEX ix_customers_search_digit_grams ON public.customers USING gin (search_digit_grams);

CREATE INDEX ix_customers_search_letter_grams ON public.customers USING gin (search_letter_grams);

CREATE INDEX ix_customers_tier ON public.customers USING btree (tier);

CREATE INDEX ix_followups_customer_time ON public.followups USING btree (customer_id, occurred_at);

CREATE INDEX ix_followups_owner_next ON public.followups USING btree (owner_id, next_followup_on);

CREATE INDEX ix_outbox_created_at ON public.outbox USING btree (created_at);

CREATE INDEX ix_staff_team_id ON public.staff USING btree (team_id);

CREATE INDEX ix_visit_plans_customer_id ON public.visit_plans USING btree (customer_id);

CREATE INDEX ix_visit_plans_owner_status ON public.visit_plans USING btree (owner_id, status);

ALTER TABLE ONLY public.account_team
    ADD CONSTRAINT account_team_customer_id_fkey FOREIGN KEY (customer_id) REFERENCES public.customers(id);

ALTER TABLE ONLY public.contacts
    ADD CONSTRAINT contacts_customer_id_fkey FOREIGN KEY (customer_id) REFERENCES public.customers(id);

ALTER TABLE ONLY public.customer_keys
    ADD CONSTRAINT customer_keys_customer_id_fkey FOREIGN KEY (customer_id) REFERENCES public.customers(id);

ALTER TABLE ONLY public.followups
    ADD CONSTRAINT followups_customer_id_fkey FOREIGN KEY (customer_id) REFERENCES public.customers(id);

ALTER TABLE ONLY public.visit_plans
    ADD CONSTRAINT visit_plans_customer_id_fkey FOREIGN KEY (customer_id) REFERENCES public.customers(id);

INSERT INTO public.alembic_version (version_num) VALUES ('0009');
