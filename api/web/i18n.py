"""The planner page's texts in Indonesian (the prototype's language, the default) and English.

Templates call ``t(key)``; the same table goes to the page's scripts as JSON, so one dictionary
holds every visible string. ``pick_language`` chooses from ``?lang=``, the cookie the language
switch sets, then the browser's ``Accept-Language``.
"""
from __future__ import annotations

from typing import Literal

Language = Literal["id", "en"]
LANGUAGES: tuple[Language, ...] = ("id", "en")
DEFAULT_LANGUAGE: Language = "id"
#: Cookie the page's language switch sets (one year).
LANGUAGE_COOKIE = "mineops_lang"
#: BCP 47 locale the scripts format numbers and dates with, per language.
LOCALES: dict[str, str] = {"id": "id-ID", "en": "en-GB"}

#: key -> (Indonesian, English). Placeholders in braces are filled by the scripts.
TEXTS: dict[str, tuple[str, str]] = {
    "title": ("Pusat Komando Perencana", "Planner command center"),
    "skip": ("Lewati ke isi", "Skip to content"),
    "language": ("Bahasa", "Language"),
    "apply": ("Terapkan", "Apply"),
    "tab_plan": ("Rencana", "Plan"),
    "tab_runs": ("Riwayat", "Runs"),
    "tab_live": ("Langsung", "Live"),
    "tab_data": ("Data", "Data"),
    "service_ready": ("Siap · model {version}", "Ready · model {version}"),
    "service_starting": ("Layanan sedang disiapkan ({phase})…", "Service is starting ({phase})…"),
    "conditions": ("Kondisi", "Conditions"),
    "weather": ("Cuaca", "Weather"),
    "road_condition": ("Kondisi jalan", "Road condition"),
    "shift": ("Shift", "Shift"),
    "shift_date": ("Tanggal shift", "Shift date"),
    "shift_date_hint": ("Kosong = hari ini", "Empty = today"),
    "haul_road": ("Jalur angkut", "Haul road"),
    "loading_unit": ("Alat muat", "Loading unit"),
    "auto_choice": ("Otomatis (pertama yang aktif)", "Automatic (first active)"),
    "vessel_schedule": ("Jadwal kapal", "Vessel schedule"),
    "no_vessel": ("Tanpa kapal", "No vessel"),
    "upcoming": ("Akan datang", "Upcoming"),
    "earlier": ("Sebelumnya", "Earlier"),
    "fleet": ("Armada", "Fleet"),
    "trucks_from": ("Dump truck dari", "Dump trucks from"),
    "trucks_to": ("sampai", "to"),
    "trucks_step": ("langkah", "step"),
    "excavator_counts": ("Jumlah excavator", "Excavator counts"),
    "fleet_limits": ("Armada aktif: {trucks} dump truck, {excavators} excavator",
                     "Active fleet: {trucks} dump trucks, {excavators} excavators"),
    "dispatch_rule": ("Aturan dispatch", "Dispatch rule"),
    "financial": ("Parameter keuangan", "Financial parameters"),
    "HargaJualBatuBara": ("Harga jual batu bara (IDR/ton)", "Coal selling price (IDR/t)"),
    "HargaSolar": ("Harga solar (IDR/liter)", "Diesel price (IDR/L)"),
    "BiayaPenaltiKeterlambatanKapal": ("Penalti keterlambatan kapal (IDR)", "Vessel late penalty (IDR)"),
    "BiayaRataRataInsiden": ("Biaya rata-rata insiden (IDR)", "Mean incident cost (IDR)"),
    "BiayaDemurragePerJam": ("Demurrage per jam (IDR)", "Demurrage per hour (IDR)"),
    "simulation": ("Simulasi", "Simulation"),
    "replications": ("Replikasi", "Replications"),
    "duration_hours": ("Durasi shift (jam)", "Shift length (hours)"),
    "seed": ("Seed acak", "Random seed"),
    "run": ("Jalankan simulasi", "Run simulation"),
    "running": ("Mensimulasikan {n} skenario × {r} replikasi…", "Simulating {n} scenarios × {r} replications…"),
    "queued": ("Dalam antrean: {detail}", "Queued: {detail}"),
    "progress_done": ("{done} dari {total} simulasi", "{done} of {total} simulations"),
    "run_done": ("Selesai: {n} simulasi dalam {s} detik", "Done: {n} simulations in {s} s"),
    "run_failed": ("Gagal: {detail}", "Failed: {detail}"),
    "results": ("Hasil", "Results"),
    "run_id": ("Run", "Run"),
    "top3": ("Tiga strategi terbaik", "Top three strategies"),
    "option": ("Opsi {n}", "Option {n}"),
    "main_recommendation": ("Rekomendasi utama", "Main recommendation"),
    "alternative": ("Alternatif", "Alternative"),
    "trucks": ("Dump truck", "Dump trucks"),
    "excavators": ("Excavator", "Excavators"),
    "profit": ("Profit", "Profit"),
    "production": ("Produksi", "Production"),
    "fuel_ratio": ("Rasio BBM", "Fuel ratio"),
    "queue": ("Antrean", "Queue"),
    "cycle_time": ("Waktu siklus", "Cycle time"),
    "vessel_late": ("Peluang kapal terlambat", "Chance vessel is late"),
    "ci95": ("IK 95%", "95% CI"),
    "tied": ("setara dengan {keys}", "tied with {keys}"),
    "warnings": ("Peringatan", "Warnings"),
    "extrapolation": ("Ekstrapolasi: lihat peringatan", "Extrapolation: see the warnings"),
    "vessel_analysis": ("Analisis kapal", "Vessel analysis"),
    "safety": ("SOP keselamatan", "Safety guideline"),
    "charts": ("Grafik", "Charts"),
    "chart_profit": ("Profit vs jumlah dump truck per jumlah excavator",
                     "Profit vs dump trucks per excavator count"),
    "chart_pareto": ("Front Pareto: profit vs antrean", "Pareto front: profit vs queue"),
    "chart_hint": ("Arahkan atau fokus (Tab) ke titik untuk nilainya; klik legenda untuk menyembunyikan seri.",
                   "Hover or focus (Tab) a point for its values; click a legend entry to hide a series."),
    "pareto_member": ("Pareto", "Pareto"),
    "dominated": ("Terdominasi", "Dominated"),
    "all_strategies": ("Semua strategi", "All strategies"),
    "rank": ("Peringkat", "Rank"),
    "sort_by": ("Urutkan menurut {col}", "Sort by {col}"),
    "download": ("Unduh", "Download"),
    "download_xlsx": ("Unduh XLSX", "Download XLSX"),
    "download_csv": ("Unduh CSV", "Download CSV"),
    "chat": ("Tanya analis", "Ask the analyst"),
    "chat_question": ("Pertanyaan", "Question"),
    "chat_send": ("Kirim", "Send"),
    "chat_needs_run": ("Jalankan atau buka sebuah run dulu.", "Run or open a run first."),
    "chat_example": ("Mengapa opsi 1 lebih baik dari opsi 2?", "Why is option 1 better than option 2?"),
    "source_llm": ("Sumber: model ({model})", "Source: model ({model})"),
    "source_fallback": ("Sumber: penjelasan deterministik (cadangan)", "Source: deterministic explanation (fallback)"),
    "you": ("Anda", "You"),
    "analyst": ("Analis", "Analyst"),
    "runs": ("Riwayat run", "Run history"),
    "filter": ("Saring", "Filter"),
    "search": ("Cari (id, kondisi)", "Search (id, conditions)"),
    "any": ("Semua", "Any"),
    "model_version": ("Versi model", "Model version"),
    "date_from": ("Dari tanggal", "From date"),
    "date_to": ("Sampai tanggal", "To date"),
    "created": ("Dibuat", "Created"),
    "grid": ("Grid", "Grid"),
    "open": ("Buka", "Open"),
    "compare": ("Bandingkan", "Compare"),
    "compare_pick": ("Pilih dua run untuk dibandingkan", "Pick two runs to compare"),
    "compare_selected": ("Bandingkan yang dipilih", "Compare selected"),
    "select_run": ("Pilih run {id}", "Select run {id}"),
    "no_runs": ("Belum ada run.", "No runs yet."),
    "refresh": ("Muat ulang", "Refresh"),
    "live": ("KPI shift berjalan", "Current shift KPIs"),
    "live_absent": ("Data langsung belum dikonfigurasi di layanan ini.", "Live data is not configured on this service."),
    "live_waiting": ("Menunggu data shift…", "Waiting for shift data…"),
    "live_updated": ("Diperbarui {time}", "Updated {time}"),
    "live_shift": ("Shift {shift} · mulai {start}", "Shift {shift} · started {start}"),
    "live_stale": ("Data lama: belum ada siklus baru sejak {age} detik", "Stale: no new cycle for {age} s"),
    "kpi_tonnes": ("Tonase (t)", "Tonnes hauled (t)"),
    "kpi_plan_tonnes": ("Rencana (t)", "Plan (t)"),
    "kpi_plan_attainment_pct": ("Capaian rencana (%)", "Plan attainment (%)"),
    "kpi_loads": ("Muatan", "Loads"),
    "kpi_cycles": ("Siklus", "Cycles"),
    "kpi_mean_cycle_time_min": ("Rata-rata waktu siklus (menit)", "Mean cycle time (min)"),
    "kpi_mean_queue_time_min": ("Rata-rata antrean di alat muat (menit)", "Mean queue at the loader (min)"),
    "kpi_trucks_working": ("Truk bekerja", "Trucks working"),
    "kpi_fuel_l_per_tonne": ("BBM (L/t)", "Fuel (L/t)"),
    "data": ("Kapal dan jadwal", "Vessels and schedules"),
    "add_vessel": ("Tambah kapal", "Add vessel"),
    "vessel_name": ("Nama kapal", "Vessel name"),
    "vessel_type": ("Jenis", "Type"),
    "capacity": ("Kapasitas (ton)", "Capacity (t)"),
    "add_schedule": ("Tambah jadwal", "Add schedule"),
    "vessel": ("Kapal", "Vessel"),
    "loading_port": ("Pelabuhan muat", "Loading port"),
    "destination": ("Tujuan", "Destination"),
    "eta": ("ETA muat (WIB)", "Loading ETA (WIB)"),
    "ets": ("Batas muat / ETS (WIB)", "Loading deadline / ETS (WIB)"),
    "planned_quantity": ("Tonase rencana (ton)", "Planned tonnage (t)"),
    "buyer": ("Pembeli", "Buyer"),
    "save": ("Simpan", "Save"),
    "saved": ("Tersimpan: {message}", "Saved: {message}"),
    "fix_fields": ("Perbaiki kolom yang ditandai.", "Fix the marked fields."),
    "vessels": ("Kapal", "Vessels"),
    "schedules": ("Jadwal", "Schedules"),
    "none": ("—", "—"),
    "api_key": ("Kunci API atau token", "API key or token"),
    "api_key_save": ("Masuk", "Sign in"),
    "auth_needed": ("Layanan ini meminta kunci API: masukkan kunci Anda.", "This service needs an API key: enter yours."),
    "auth_forbidden": ("Kunci ini tidak berhak atas tindakan itu; masukkan kunci lain.",
                       "This key may not do that; enter another key."),
}

_INDEX = {lang: i for i, lang in enumerate(LANGUAGES)}


def texts(lang: str) -> dict[str, str]:
    """Every text of the page in ``lang``."""
    i = _INDEX[lang]
    return {key: pair[i] for key, pair in TEXTS.items()}


def pick_language(query: str | None, cookie: str | None, accept_language: str | None) -> Language:
    """``?lang=`` first, then the cookie, then the first supported language the browser prefers."""
    for candidate in (query, cookie):
        if candidate in LANGUAGES:
            return candidate  # type: ignore[return-value]
    ranked = []
    for i, part in enumerate((accept_language or "").split(",")):
        tag, _, params = part.strip().partition(";")
        q = 1.0
        if params.strip().startswith("q="):
            try:
                q = float(params.strip()[2:])
            except ValueError:
                q = 0.0
        ranked.append((-q, i, tag.strip().lower().split("-")[0]))
    for _, _, primary in sorted(ranked):
        if primary in LANGUAGES:
            return primary  # type: ignore[return-value]
    return DEFAULT_LANGUAGE
