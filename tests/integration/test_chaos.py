"""Issue 9: proof under faults, load and bad input, with the code of `vuoro bench chaos`.

Real parts only: a private Mosquitto, `vuoro scheduler` processes killed with SIGKILL,
SQLite (WAL) and a private PostgreSQL. Each scenario reports what it did (`done`) and
what was lost or doubled; the tests check both that the work happened and that nothing
was lost. No speed is asserted here (speed is measured in the benchmarks).
"""

from __future__ import annotations

from pathlib import Path

from bench import chaos
from scheduler.store.private_pg import PrivatePostgres


def test_twenty_sigkills_under_load_lose_and_double_nothing(tmp_path: Path) -> None:
    r = chaos.crash_loop(tmp_path, kills=20, seed=7, max_up_s=0.4)
    done, checks = r["done"], r["checks"]
    assert done["sigkills"] == 20 and done["scheduler_starts"] == 21
    assert done["sigkills_during_start_up"] >= 1
    # Real work went on between the kills, on both sites, and was answered.
    assert done["ok_replies"] > 500, done
    assert done["load_verbs"]["ticket"] > 100 and done["load_verbs"]["next"] > 100, done
    devices = checks["real_devices"]
    assert devices["kiosk_ok"] >= 10 and devices["desk_ok"] >= 5, devices
    assert checks["drained"] and checks["real_devices_answered"], checks
    assert checks["db_tickets"] == done["load_verbs"]["ticket"], checks
    assert devices["db_tickets"] == devices["kiosk_ok"], devices
    # Nothing lost, nothing twice, every device resumed, seq never went back.
    assert r["lost"] == 0 and r["duplicates"] == 0, checks
    assert checks["problems"] == {} and devices["problems"] == {}
    assert r["display_seq_back"] == 0
    assert done["display_snapshots"] > 20 and devices["display_snapshots"] > 5
    assert checks["devices_resumed"]
    assert checks["scheduler_exit"] == 0


def test_a_hundred_thousand_bad_payloads_change_nothing(tmp_path: Path) -> None:
    # 5,000 distinct payloads from the hypothesis strategies, all over MQTT into the
    # real scheduler process, and twenty rounds of them (new ids each round: 100,000
    # commands) through Scheduler.handle_batch, the worker's own code. The bench sends
    # 100,000 distinct ones over MQTT.
    r = chaos.fuzz(tmp_path, n_mqtt=5_000, n_distinct=5_000, in_process_rounds=20, seed=3)
    done, mqtt, inproc = r["done"], r["mqtt"], r["in_process"]
    assert done["payloads_in_process"] == 100_000 and done["payloads_over_mqtt"] == 5_000
    assert all(n > 200 for n in done["faults"].values()), done["faults"]
    # Every payload answered with an error or dropped with a log line; none ok.
    for part in (mqtt, inproc):
        assert part["error_replies"] == part["expected_replies"] > 1000, part
        assert part["dropped_with_log_line"] == part["expected_drops"] > 1000, part
        assert part["ok_replies"] == 0 and part["tables_changed"] == [], part
    assert mqtt["payloads"] > 4_500 and mqtt["scheduler_alive"] and mqtt["scheduler_exit"] == 0
    assert mqtt["retained_changed"] == []
    assert inproc["internal_errors_logged"] == 0 and inproc["state_messages"] == 0
    assert inproc["stored_replies_not_errors"] == 0 and not inproc["views_changed"]
    assert r["state_changes"] == 0 and r["unaccounted"] == 0 and r["ok"]


def test_a_kill_during_heavy_writes_leaves_sound_databases(
    tmp_path: Path, postgres: PrivatePostgres
) -> None:
    r = chaos.power_loss(tmp_path, sqlite_kills=2, pg_kills=2, seed=5, postgres=postgres)
    sq, pg = r["sqlite"], r["postgresql"]
    assert sq["sigkills_of_the_writer"] == 2 and pg["server_sigkills"] == 2
    assert pg["server_processes_killed"] >= 2 * 4  # postmaster and its workers, each time
    for part in (sq, pg):
        assert part["commits_reported"] >= 2 and part["tickets_reported"] >= 150, part
        assert part["lost"] == 0 and part["duplicates"] == 0, part
        assert part["db_tickets"] >= part["tickets_reported"]
    assert sq["integrity_check"] == ["ok"] and sq["foreign_key_violations"] == 0
    assert pg["amcheck_btree_indexes_checked"] >= 5 and pg["amcheck_heap_tables_checked"] >= 5
    assert pg["amcheck_heap_corruptions"] == 0
    assert r["ok"] and r["lost"] == 0 and r["duplicates"] == 0


def test_broker_restart_and_a_cut_kiosk_lose_nothing(tmp_path: Path) -> None:
    r = chaos.broker_network(tmp_path, offline_tickets=30, cut_minutes=10, min_cut_s=3)
    done = r["done"]
    assert done["broker_sigkills"] == 1 and done["network_cuts"] == 1
    # The display showed offline, and every device came back by itself.
    assert set(done["devices_reconnected_s"]) == {"kiosk-real-1", "desk-real-1", "display-real-1"}
    assert r["replies_after_restart"] and r["retained_wrong_after_restart"] == []
    # 30 offline tickets over 10 minutes of the kiosk's clock, all in the queue after,
    # with the printed numbers, in the order they were issued.
    assert done["offline_tickets_printed"] == 30 == done["outbox_at_the_end_of_the_cut"]
    assert done["cut_wall_s"] >= 3 and done["desk_calls_during_the_cut"] >= 1
    assert r["offline_tickets_in_queue"] == 30 and r["offline_tickets_in_order"]
    assert r["offline_arrival_spread_min"] is not None and r["offline_arrival_spread_min"] > 9
    assert r["lost"] == 0 and r["duplicates"] == 0 and r["ok"]


def test_two_schedulers_on_one_postgres_one_survives_the_others_death(
    tmp_path: Path, postgres: PrivatePostgres
) -> None:
    r = chaos.scale_out(tmp_path, postgres=postgres, before_s=1.5, after_s=4.0)
    done = r["done"]
    assert done["scheduler_processes"] == 2 and r["both_alive_before_the_kill"]
    assert done["ok_replies_before_the_kill"] > 100, done
    # The survivor took the dead one's site over and carried the load on.
    assert r["survivor_took_over"] and done["ok_replies_after_the_kill"] > 100, done
    assert r["drained"] and r["survivor_exit"] == 0
    # No duplicate numbers, no double calls, nothing answered lost; seq never went back.
    assert r["lost"] == 0 and r["duplicates"] == 0 and r["problems"] == {}, r
    assert r["display_seq_back"] == 0 and r["ok"]


def test_two_schedulers_starting_at_once_on_one_new_postgres_database(
    postgres: PrivatePostgres,
) -> None:
    # Regression: two concurrent alembic upgrades of one empty database hung for ever
    # (each waiting on the other's DDL locks); two schedulers starting together did.
    import threading

    from scheduler.store.db import Store

    url = postgres.new_database()
    errors: list[BaseException] = []

    def migrate() -> None:
        store = Store(url)
        try:
            store.migrate()
        except BaseException as exc:  # reported below
            errors.append(exc)
        finally:
            store.dispose()

    threads = [threading.Thread(target=migrate, daemon=True) for _ in range(3)]
    for th in threads:
        th.start()
    for th in threads:
        th.join(60)
    assert not any(th.is_alive() for th in threads), "a migration hung"
    assert errors == []
    # Regression: both then inserted the new site's row; the second died on its key.
    from firmware_common.protocol import now_utc
    from scheduler.config import DEMO_SITE, load_config

    site = load_config(DEMO_SITE).site_defs()["demo"]
    versions: list[int] = []

    def load_site() -> None:
        store = Store(url)
        try:
            versions.append(store.load_site(site, now_utc()).version)
        except BaseException as exc:  # reported below
            errors.append(exc)
        finally:
            store.dispose()

    threads = [threading.Thread(target=load_site, daemon=True) for _ in range(4)]
    for th in threads:
        th.start()
    for th in threads:
        th.join(60)
    assert errors == [] and versions == [0, 0, 0, 0]
    store = Store(url)
    try:
        assert store.tickets("x") == []  # the schema is there
    finally:
        store.dispose()
