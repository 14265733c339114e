// Three columns: episodes | the selected episode and its live events | netlist and waveform viewer.
import { useCallback, useEffect, useRef, useState } from "react";
import { api, ApiError, Episode, EpisodeEvent } from "./api";

const DEFAULT_NETLIST = `RC low-pass filter 1k/100n
V1 in 0 PULSE(0 1 0 1u 1u 5m 10m)
* part: R-0603-1k
R1 in out 1k
* part: C-0603-100nF
C1 out 0 100n
.tran 10u 2m
.meas tran vout_max MAX v(out)
.end
`;
const NETLIST_PATH = "circuit.cir";
const FINAL = ["completed", "failed", "interrupted"];

type Theme = "light" | "dark";

function loadWidths(): [number, number] {
  try {
    const saved = JSON.parse(localStorage.getItem("layout.widths") ?? "null");
    if (Array.isArray(saved) && saved.length === 2 && saved.every((n) => typeof n === "number")) return [saved[0], saved[1]];
  } catch { /* a corrupt value falls back to the defaults */ }
  return [280, 420];
}

function episodeIdFromUrl(): string | null {
  const match = window.location.pathname.match(/^\/episodes\/([0-9a-f]{32})$/);
  return match ? match[1] : null;
}

export function App() {
  const [theme, setTheme] = useState<Theme>(() => (localStorage.getItem("theme") === "dark" ? "dark" : "light"));
  const [widths, setWidths] = useState<[number, number]>(loadWidths);
  const [episodes, setEpisodes] = useState<Episode[]>([]);
  const [selected, setSelected] = useState<string | null>(episodeIdFromUrl);
  const [episode, setEpisode] = useState<Episode | null>(null);
  const [events, setEvents] = useState<EpisodeEvent[]>([]);
  const [netlist, setNetlist] = useState(DEFAULT_NETLIST);
  const [viewerText, setViewerText] = useState<string>("");
  const [error, setError] = useState<string | null>(null);
  const cursor = useRef(0);

  useEffect(() => {
    document.documentElement.dataset.theme = theme;
    localStorage.setItem("theme", theme);
  }, [theme]);
  useEffect(() => localStorage.setItem("layout.widths", JSON.stringify(widths)), [widths]);

  const report = (err: unknown) => setError(err instanceof ApiError ? err.message : String(err));

  const refreshList = useCallback(() => api.list().then(setEpisodes).catch(report), []);
  useEffect(() => { refreshList(); }, [refreshList]);

  const select = (id: string) => {
    setSelected(id);
    window.history.pushState({}, "", `/episodes/${id}`);
  };
  useEffect(() => {
    const onPop = () => setSelected(episodeIdFromUrl());
    window.addEventListener("popstate", onPop);
    return () => window.removeEventListener("popstate", onPop);
  }, []);

  // Live updates: the selected episode's events over the controller's WebSocket stream, resumed
  // after the last one shown; while no socket is open (it dropped, or the episode ended) the
  // events are polled with the same cursor, and a socket is tried again while the episode runs.
  useEffect(() => {
    setEvents([]);
    setEpisode(null);
    setViewerText("");
    cursor.current = 0;
    if (!selected) return;
    let stopped = false;
    let socket: WebSocket | null = null;
    let lastTry = 0;
    const add = (fresh: EpisodeEvent[]) => {
      const unseen = fresh.filter((e) => e.id > cursor.current);
      if (!unseen.length) return;
      cursor.current = unseen[unseen.length - 1].id;
      setEvents((old) => [...old, ...unseen]);
    };
    const refresh = async () => {
      const ep = await api.get(selected);
      if (stopped) return ep;
      setEpisode(ep);
      setEpisodes((list) => list.map((e) => (e.id === ep.id ? ep : e)));
      return ep;
    };
    const open = () => {
      lastTry = Date.now();
      const ws = new WebSocket(api.streamUrl(selected, cursor.current));
      socket = ws;
      ws.onmessage = (msg) => {
        const ev = JSON.parse(msg.data) as EpisodeEvent;
        add([ev]);
        if (ev.kind === "status") refresh().catch(report);
      };
      ws.onclose = () => {
        if (socket === ws) socket = null;
        if (!stopped) refresh().catch(report);
      };
    };
    const tick = async () => {
      try {
        const ep = await refresh();
        if (stopped || socket !== null) return;
        add(await api.events(selected, cursor.current)); // no socket: poll
        if (!FINAL.includes(ep.status) && Date.now() - lastTry > 2000) open();
      } catch (err) {
        if (!stopped) report(err);
      }
    };
    open();
    tick();
    const timer = window.setInterval(tick, 1000);
    return () => {
      stopped = true;
      window.clearInterval(timer);
      socket?.close();
    };
  }, [selected]);

  useEffect(() => {
    if (episode?.netlist_path) {
      api.assetText(episode.id, episode.netlist_path).then(setViewerText).catch(() => setViewerText(""));
    }
  }, [episode?.id, episode?.netlist_path, episode?.status]);

  const create = async () => {
    setError(null);
    try {
      const ep = await api.create(`episode ${new Date().toLocaleTimeString()}`);
      setEpisodes((list) => [ep, ...list]);
      select(ep.id);
    } catch (err) { report(err); }
  };

  const simulate = async () => {
    if (!episode) return;
    setError(null);
    try {
      await api.writeFile(episode.id, NETLIST_PATH, netlist);
      await api.simulate(episode.id, NETLIST_PATH);
    } catch (err) { report(err); }
  };

  const interrupt = async () => {
    if (!episode) return;
    try { await api.interrupt(episode.id); } catch (err) { report(err); }
  };

  const drag = (which: 0 | 1) => (down: React.MouseEvent) => {
    down.preventDefault();
    const start = down.clientX;
    const initial = widths[which];
    const move = (ev: MouseEvent) => {
      const width = Math.max(160, Math.min(900, initial + ev.clientX - start));
      setWidths((w) => (which === 0 ? [width, w[1]] : [w[0], width]));
    };
    const up = () => { window.removeEventListener("mousemove", move); window.removeEventListener("mouseup", up); };
    window.addEventListener("mousemove", move);
    window.addEventListener("mouseup", up);
  };

  const waveform = episode?.artifacts.find((a) => a.kind === "waveform" && a.path);
  const active = episode && !FINAL.includes(episode.status) && episode.status !== "created";

  return (
    <div className="app">
      <header className="topbar">
        <h1>Circuit episodes</h1>
        <button data-testid="theme-toggle" onClick={() => setTheme(theme === "light" ? "dark" : "light")}>
          {theme === "light" ? "Dark" : "Light"} theme
        </button>
      </header>
      {error && (
        <div className="error" data-testid="error-banner" role="alert">
          {error} <button onClick={() => setError(null)} aria-label="dismiss">×</button>
        </div>
      )}
      <div className="layout" data-testid="app-layout"
           style={{ gridTemplateColumns: `${widths[0]}px 6px ${widths[1]}px 6px 1fr` }}>
        <section className="column" data-testid="episodes-column">
          <button data-testid="new-episode" onClick={create}>New episode</button>
          <ul className="episodes">
            {episodes.map((e) => (
              <li key={e.id} data-testid="episode-item" data-episode-id={e.id}
                  className={e.id === selected ? "selected" : ""} onClick={() => select(e.id)}>
                <span className="name">{e.name}</span>
                <span className={`status ${e.status}`} data-testid="episode-item-status">{e.status}</span>
              </li>
            ))}
          </ul>
        </section>
        <div className="handle" data-testid="resize-handle-1" onMouseDown={drag(0)} />
        <section className="column" data-testid="episode-column">
          {!selected && <p className="hint">Select or create an episode.</p>}
          {selected && !episode && <p className="hint" data-testid="episode-loading">Loading…</p>}
          {episode && (
            <>
              <h2 data-testid="episode-name">{episode.name}</h2>
              <p>Status: <strong data-testid="episode-status">{episode.status}</strong></p>
              {episode.reason && <p className="reason" data-testid="episode-reason">{episode.reason}</p>}
              <textarea data-testid="netlist-input" value={netlist} onChange={(e) => setNetlist(e.target.value)}
                        rows={10} spellCheck={false} />
              <div className="actions">
                <button data-testid="simulate" onClick={simulate} disabled={!!active}>Simulate</button>
                <button data-testid="interrupt" onClick={interrupt} disabled={!active}>Interrupt</button>
              </div>
              <h3>Events</h3>
              <ol className="events" data-testid="events">
                {events.map((ev) => (
                  <li key={ev.id} data-testid="event-item" data-kind={ev.kind} data-event-id={ev.id}>
                    <time>{new Date(ev.created_at).toLocaleTimeString()}</time> {ev.kind}
                    {ev.kind === "status" ? ` → ${String(ev.data.to)}` : ""}
                    {ev.kind === "artifact" ? ` ${String(ev.data.kind)}` : ""}
                  </li>
                ))}
              </ol>
            </>
          )}
        </section>
        <div className="handle" data-testid="resize-handle-2" onMouseDown={drag(1)} />
        <section className="column" data-testid="viewer-column">
          <h3>Netlist</h3>
          <pre data-testid="netlist-view">{viewerText || "(no netlist simulated yet)"}</pre>
          <h3>Waveform</h3>
          {waveform && episode
            ? <img data-testid="waveform" alt="waveform" src={api.assetUrl(episode.id, waveform.path!)} />
            : <p className="hint" data-testid="waveform-empty">No waveform yet.</p>}
        </section>
      </div>
    </div>
  );
}
