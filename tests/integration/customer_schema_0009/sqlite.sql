-- The customer database as migrations 0001-0009 left it on SQLite before they were
-- squashed (commit b82878d; sqlite3 .dump), at revision 0009.
PRAGMA foreign_keys=OFF;
BEGIN TRANSACTION;
CREATE TABLE alembic_version (
	version_num VARCHAR(32) NOT NULL, 
	CONSTRAINT alembic_version_pkc PRIMARY KEY (version_num)
);
INSERT INTO alembic_version VALUES('0009');
CREATE TABLE assignment_rules (
	id VARCHAR(36) NOT NULL, 
	kind VARCHAR(20) NOT NULL, 
	config JSON NOT NULL, 
	priority INTEGER NOT NULL, 
	active BOOLEAN NOT NULL, 
	version INTEGER NOT NULL, 
	created_at DATETIME NOT NULL, 
	PRIMARY KEY (id)
);
CREATE TABLE code_sequences (
	name VARCHAR(50) NOT NULL, 
	next_value INTEGER NOT NULL, 
	PRIMARY KEY (name)
);
CREATE TABLE customer_categories (
	id VARCHAR(36) NOT NULL, 
	dimension VARCHAR(20) NOT NULL, 
	name VARCHAR(100) NOT NULL, 
	description VARCHAR(500), 
	retired_at DATETIME, 
	version INTEGER NOT NULL, 
	created_at DATETIME NOT NULL, 
	PRIMARY KEY (id), 
	UNIQUE (dimension, name)
);
CREATE TABLE customer_history (
	id INTEGER NOT NULL, 
	customer_id VARCHAR(36) NOT NULL, 
	occurred_at DATETIME NOT NULL, 
	actor_id VARCHAR(36), 
	kind VARCHAR(20) NOT NULL, 
	changes JSON NOT NULL, 
	reason VARCHAR(200), 
	PRIMARY KEY (id)
);
CREATE TABLE customers (
	id VARCHAR(36) NOT NULL, 
	code VARCHAR(32) NOT NULL, 
	name VARCHAR(200) NOT NULL, 
	kind VARCHAR(10) NOT NULL, 
	phones JSON NOT NULL, 
	emails JSON NOT NULL, 
	tax_id VARCHAR(40), 
	industry VARCHAR(100), 
	province VARCHAR(50), 
	city VARCHAR(50), 
	district VARCHAR(50), 
	region_band VARCHAR(10), 
	address VARCHAR(500), 
	website VARCHAR(300), 
	legal_representative VARCHAR(100), 
	registered_capital NUMERIC(18, 2), 
	business_scope TEXT, 
	size VARCHAR(50), 
	source VARCHAR(100), 
	credit_note TEXT, 
	category_ids JSON NOT NULL, 
	tags JSON NOT NULL, 
	attributes JSON NOT NULL, 
	owner_id VARCHAR(36), 
	owner_team_id VARCHAR(36), 
	status VARCHAR(10) NOT NULL, 
	merged_into_id VARCHAR(36), 
	tier VARCHAR(1), 
	rfm_recency INTEGER, 
	rfm_frequency INTEGER, 
	rfm_monetary INTEGER, 
	lifecycle VARCHAR(10) NOT NULL, 
	stage VARCHAR(10) NOT NULL, 
	volume_class VARCHAR(12) NOT NULL, 
	paid_revenue NUMERIC(18, 2) NOT NULL, 
	paid_orders INTEGER NOT NULL, 
	last_purchase_at DATETIME, 
	last_visit_at DATETIME, 
	last_followup_at DATETIME, 
	last_activity_at DATETIME NOT NULL, 
	search_text TEXT NOT NULL, 
	version INTEGER NOT NULL, 
	created_by VARCHAR(36), 
	created_at DATETIME NOT NULL, 
	updated_at DATETIME NOT NULL, search_bigrams JSON DEFAULT '[]' NOT NULL, search_digit_grams JSON DEFAULT '[]' NOT NULL, search_letter_grams JSON DEFAULT '[]' NOT NULL, 
	PRIMARY KEY (id), 
	UNIQUE (code)
);
CREATE TABLE inbox (
	consumer VARCHAR(200) NOT NULL, 
	event_id VARCHAR(64) NOT NULL, 
	event_type VARCHAR(200) NOT NULL, 
	processed_at DATETIME NOT NULL, 
	PRIMARY KEY (consumer, event_id)
);
CREATE TABLE outbox (
	id VARCHAR(36) NOT NULL, 
	exchange VARCHAR(200) NOT NULL, 
	routing_key VARCHAR(200) NOT NULL, 
	body TEXT NOT NULL, 
	headers TEXT NOT NULL, 
	created_at DATETIME NOT NULL, 
	attempts INTEGER NOT NULL, 
	PRIMARY KEY (id)
);
CREATE TABLE settings (
	name VARCHAR(100) NOT NULL, 
	value JSON NOT NULL, 
	version INTEGER NOT NULL, 
	PRIMARY KEY (name)
);
CREATE TABLE staff (
	id VARCHAR(36) NOT NULL, 
	display_name VARCHAR(200) NOT NULL, 
	team_id VARCHAR(36), 
	is_active BOOLEAN NOT NULL, 
	is_new_staff BOOLEAN NOT NULL, 
	roles JSON NOT NULL, 
	last_assigned_at DATETIME, 
	PRIMARY KEY (id)
);
CREATE TABLE staff_teams (
	id VARCHAR(36) NOT NULL, 
	name VARCHAR(200) NOT NULL, 
	parent_id VARCHAR(36), 
	manager_id VARCHAR(36), 
	PRIMARY KEY (id)
);
CREATE TABLE account_team (
	id INTEGER NOT NULL, 
	customer_id VARCHAR(36) NOT NULL, 
	user_id VARCHAR(36) NOT NULL, 
	role VARCHAR(50) NOT NULL, 
	added_at DATETIME NOT NULL, 
	PRIMARY KEY (id), 
	FOREIGN KEY(customer_id) REFERENCES customers (id), 
	UNIQUE (customer_id, user_id)
);
CREATE TABLE contacts (
	id VARCHAR(36) NOT NULL, 
	customer_id VARCHAR(36) NOT NULL, 
	name VARCHAR(100) NOT NULL, 
	title VARCHAR(100), 
	phones JSON NOT NULL, 
	email VARCHAR(320), 
	birthday DATE, 
	hobbies VARCHAR(500), 
	is_decision_maker BOOLEAN NOT NULL, 
	notes TEXT, 
	marketing_opt_out BOOLEAN NOT NULL, 
	version INTEGER NOT NULL, 
	created_at DATETIME NOT NULL, 
	updated_at DATETIME NOT NULL, 
	PRIMARY KEY (id), 
	FOREIGN KEY(customer_id) REFERENCES customers (id)
);
CREATE TABLE customer_keys (
	"key" VARCHAR(400) NOT NULL, 
	customer_id VARCHAR(36) NOT NULL, 
	PRIMARY KEY ("key"), 
	FOREIGN KEY(customer_id) REFERENCES customers (id)
);
CREATE TABLE followups (
	id VARCHAR(36) NOT NULL, 
	customer_id VARCHAR(36) NOT NULL, 
	owner_id VARCHAR(36) NOT NULL, 
	method VARCHAR(20) NOT NULL, 
	occurred_at DATETIME NOT NULL, 
	contact_id VARCHAR(36), 
	content TEXT NOT NULL, 
	result TEXT, 
	next_followup_on DATE, 
	next_done BOOLEAN NOT NULL, 
	created_at DATETIME NOT NULL, 
	PRIMARY KEY (id), 
	FOREIGN KEY(customer_id) REFERENCES customers (id)
);
CREATE TABLE visit_plans (
	id VARCHAR(36) NOT NULL, 
	customer_id VARCHAR(36) NOT NULL, 
	owner_id VARCHAR(36) NOT NULL, 
	purpose VARCHAR(200) NOT NULL, 
	content TEXT, 
	planned_at DATETIME NOT NULL, 
	status VARCHAR(20) NOT NULL, 
	contact_id VARCHAR(36), 
	appointment_at DATETIME, 
	visited_at DATETIME, 
	record TEXT, 
	report TEXT, 
	reviewer_id VARCHAR(36), 
	review_comment TEXT, 
	reviewed_at DATETIME, 
	version INTEGER NOT NULL, 
	created_at DATETIME NOT NULL, 
	updated_at DATETIME NOT NULL, 
	PRIMARY KEY (id), 
	FOREIGN KEY(customer_id) REFERENCES customers (id)
);
CREATE TABLE segments (
	id VARCHAR(36) NOT NULL, 
	name VARCHAR(200) NOT NULL, 
	description VARCHAR(1000), 
	conditions JSON NOT NULL, 
	owner_id VARCHAR(36) NOT NULL, 
	version INTEGER NOT NULL, 
	created_at DATETIME NOT NULL, 
	updated_at DATETIME NOT NULL, 
	PRIMARY KEY (id)
);
CREATE INDEX ix_customer_history_customer ON customer_history (customer_id, id);
CREATE INDEX ix_customers_industry ON customers (industry);
CREATE INDEX ix_customers_name ON customers (name);
CREATE INDEX ix_customers_owner_created ON customers (owner_id, created_at);
CREATE INDEX ix_customers_owner_team_id ON customers (owner_team_id);
CREATE INDEX ix_customers_pool ON customers (owner_id, last_activity_at);
CREATE INDEX ix_customers_province ON customers (province);
CREATE INDEX ix_customers_tier ON customers (tier);
CREATE INDEX ix_outbox_created_at ON outbox (created_at);
CREATE INDEX ix_staff_team_id ON staff (team_id);
CREATE INDEX ix_account_team_customer_id ON account_team (customer_id);
CREATE INDEX ix_account_team_user_id ON account_team (user_id);
CREATE INDEX ix_contacts_customer_id ON contacts (customer_id);
CREATE INDEX ix_customer_keys_customer_id ON customer_keys (customer_id);
CREATE INDEX ix_followups_customer_time ON followups (customer_id, occurred_at);
CREATE INDEX ix_followups_owner_next ON followups (owner_id, next_followup_on);
CREATE INDEX ix_visit_plans_customer_id ON visit_plans (customer_id);
CREATE INDEX ix_visit_plans_owner_status ON visit_plans (owner_id, status);
CREATE INDEX ix_customers_created ON customers (created_at, id);
CREATE INDEX ix_customers_pool_created ON customers (created_at, id) WHERE owner_id IS NULL;
COMMIT;
