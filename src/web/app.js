// The page at /: active markets by volume, and one market with its chart, trades and comments,
// kept live from the market's event stream. It uses the public API only, as any client would.
//
// User text (market names, descriptions, comments, author names) only ever reaches the page as
// text nodes (textContent, append(string)): never through innerHTML, so markup in it is shown,
// not run. The page's Content-Security-Policy forbids inline script as a second line of defence.

(() => {
  const view = document.getElementById('view');
  const connection = document.getElementById('connection');
  const TRADES_SHOWN = 20;
  const COMMENTS_SHOWN = 50;

  // ---- small helpers ----------------------------------------------------------------------

  /** An element; string children become text nodes. Attributes take only values built here. */
  function el(tag, props, ...children) {
    const node = document.createElement(tag);
    for (const [key, value] of Object.entries(props ?? {})) {
      if (value === undefined || value === null || value === false) continue;
      if (key === 'class') node.className = value;
      else if (key === 'dataset') Object.assign(node.dataset, value);
      else node.setAttribute(key, value);
    }
    for (const child of children.flat()) if (child !== undefined && child !== null) node.append(child);
    return node;
  }

  const percent = (p) => `${(p * 100).toFixed(1)}%`;
  const money = (v) => v.toLocaleString('en-US', { minimumFractionDigits: 0, maximumFractionDigits: 2 });
  const when = (iso) => new Date(iso).toLocaleString();
  const marketHref = (m) => `#/m/${encodeURIComponent(m.slug ?? m.id)}`;

  /** GET a public API path; resolves to the success envelope, rejects with the API's message. */
  async function api(path) {
    const res = await fetch(path, { headers: { accept: 'application/json' } });
    const body = await res.json().catch(() => null);
    if (!res.ok || body?.success !== true) {
      const error = new Error(body?.error ?? `HTTP ${res.status}`);
      error.status = res.status;
      throw error;
    }
    return body;
  }

  function setConnection(state) {
    connection.hidden = state === null;
    connection.className = `connection ${state === 'live' ? 'live' : 'down'}`;
    connection.textContent = state === 'live' ? 'live' : 'reconnecting…';
  }

  /**
   * An event stream that survives drops: EventSource reconnects by itself with Last-Event-ID after
   * a dropped connection or an `end` event; when it gives up (an error answer), we open a new one
   * from the last id seen, with backoff.
   */
  function openStream(url, handlers) {
    let source = null;
    let lastId = null;
    let timer = null;
    let delay = 1000;
    let closed = false;
    const connect = () => {
      const resume = lastId
        ? `${url.includes('?') ? '&' : '?'}lastEventId=${encodeURIComponent(lastId)}`
        : '';
      source = new EventSource(url + resume);
      source.onopen = () => {
        delay = 1000;
        setConnection('live');
      };
      source.onerror = () => {
        if (closed) return;
        setConnection('down');
        if (source.readyState === EventSource.CLOSED) {
          timer = setTimeout(connect, delay);
          delay = Math.min(delay * 2, 30_000);
        }
      };
      for (const [type, handle] of Object.entries(handlers)) {
        source.addEventListener(type, (event) => {
          if (event.lastEventId) lastId = event.lastEventId;
          let data;
          try {
            data = JSON.parse(event.data);
          } catch {
            return;
          }
          handle(data);
        });
      }
    };
    connect();
    return {
      close() {
        closed = true;
        clearTimeout(timer);
        source?.close();
        setConnection(null);
      },
    };
  }

  function errorText(error) {
    return el('p', { class: 'error' }, `Could not load: ${error.message}`);
  }

  // ---- the list -----------------------------------------------------------------------------

  function marketItem(m) {
    return el(
      'li',
      { dataset: { id: m.id } },
      el(
        'a',
        { href: marketHref(m) },
        el('span', { class: 'market-name' }, m.name),
        el('span', { class: 'probability' }, percent(m.probability)),
        el('span', { class: 'volume' }, `${money(m.volume)} traded`),
      ),
      m.type === 'multiple' ? answerList(m) : null,
    );
  }

  /** A multiple-choice market's answers, each with its probability, most likely first. */
  function answerList(m) {
    const answers = [...(m.answers ?? [])].sort((a, b) => b.probability - a.probability);
    return el(
      'ul',
      { class: 'answers' },
      ...answers.map((a) =>
        el(
          'li',
          { dataset: { answerId: a.id } },
          el('span', {}, a.text),
          ' ',
          el('span', { class: 'muted' }, percent(a.probability)),
        ),
      ),
    );
  }

  function showList() {
    let closed = false;
    document.title = 'Markets';
    const heading = el('h1', {}, 'Active markets by volume');
    view.replaceChildren(heading, el('p', { class: 'muted' }, 'Loading…'));
    const shown = new Map(); // market id → { market, item }
    const rememberItem = (m) => {
      const item = marketItem(m);
      shown.set(m.id, { market: m, item });
      return item;
    };
    // Every public event: a trade anywhere updates that market's line (the order is kept until reload).
    const stream = openStream('/api/events', {
      'trade.created': ({ market }) => {
        const line = shown.get(market.id);
        if (!line || market.version < line.market.version) return;
        line.item.replaceWith(rememberItem({ ...line.market, ...market }));
      },
    });
    api('/api/markets?status=active&sort=volume&order=desc&limit=20')
      .then(({ data }) => {
        if (closed) return;
        view.replaceChildren(
          heading,
          data.length
            ? el('ul', { class: 'market-list', id: 'markets' }, data.map(rememberItem))
            : el('p', { class: 'muted' }, 'No active markets yet.'),
        );
      })
      .catch((error) => closed || view.replaceChildren(heading, errorText(error)));
    return {
      close() {
        closed = true;
        stream.close();
      },
    };
  }

  // ---- one market ---------------------------------------------------------------------------

  /** The finest bucket width that spans the market's life in at most 300 buckets. */
  function historyRange(market) {
    const now = Date.now();
    const age = now - Date.parse(market.createdAt);
    const widths = [
      ['1m', 60_000],
      ['5m', 300_000],
      ['1h', 3_600_000],
      ['1d', 86_400_000],
    ];
    const [interval, width] = widths.find(([, w]) => age / w <= 300) ?? widths[3];
    const from = Math.max(Date.parse(market.createdAt), now - 300 * width);
    return { interval, width, from: new Date(Math.floor(from / width) * width).toISOString() };
  }

  function showMarket(ref) {
    const s = {
      closed: false,
      loaded: false,
      pending: [],
      market: null,
      tradeIds: new Set(),
      comments: new Map(),
      xs: [],
      ys: [],
      chart: null,
    };
    view.replaceChildren(el('p', { class: 'muted' }, 'Loading…'));

    const nodes = {
      name: el('h1', { id: 'market-name' }),
      probability: el('div', { class: 'probability', id: 'probability' }),
      answers: el('div', { id: 'answers' }),
      probabilityLabel: el('span', { class: 'muted' }, 'chance of YES'),
      facts: el('div', { class: 'facts', id: 'facts' }),
      description: el('p', { class: 'description' }),
      chart: el('div', { class: 'chart', id: 'chart', dataset: { points: '0' } }),
      trades: el('tbody', { id: 'trades' }),
      comments: el('ul', { class: 'comments', id: 'comments' }),
      commentsNote: el('p', { class: 'muted' }),
    };

    function renderMarket(m) {
      document.title = `${m.name} · Markets`;
      nodes.name.textContent = m.name;
      nodes.probability.textContent = percent(m.probability);
      nodes.probability.dataset.probability = String(m.probability);
      nodes.answers.replaceChildren(...(m.type === 'multiple' && m.answers ? [answerList(m)] : []));
      nodes.probabilityLabel.textContent =
        m.type === 'multiple' ? 'chance of the leading answer' : 'chance of YES';
      const facts = [
        m.status === 'resolved'
          ? `resolved ${m.outcome ?? m.answers?.find((a) => a.id === m.resolvedAnswerId)?.text ?? ''}`
          : m.status,
        `${money(m.volume)} traded`,
        `closes ${when(m.closesAt)}`,
        m.category,
      ];
      nodes.facts.replaceChildren(...facts.filter(Boolean).map((f) => el('span', {}, f)));
      nodes.description.textContent = m.description ?? '';
    }

    /**
     * A newer version of the market (events can arrive before the first load, or replayed). A
     * trade's event carries only the book (probability, volume, status, version): merged in.
     */
    function applyMarket(m) {
      if (s.market && m.version < s.market.version) return;
      s.market = { ...s.market, ...m };
      renderMarket(s.market);
    }

    /**
     * A trade's prices are the traded outcome's; a binary market's page shows YES throughout, a
     * multiple-choice market's rows show the traded answer's own price.
     */
    const yes = (t, price) => (t.outcome === null || t.outcome === 'YES' ? price : 1 - price);
    const tradedName = (t) =>
      t.outcome ?? s.market?.answers?.find((a) => a.id === t.answerId)?.text ?? 'an answer';

    function tradeRow(t) {
      return el(
        'tr',
        { dataset: { id: t.id } },
        el('td', {}, when(t.createdAt)),
        el('td', { class: t.outcome ?? 'answer' }, `${t.side} ${tradedName(t)}`),
        el('td', { class: 'num' }, money(t.amount)),
        el(
          'td',
          { class: 'num' },
          `${percent(yes(t, t.probabilityBefore))} → ${percent(yes(t, t.probabilityAfter))}`,
        ),
      );
    }

    function drawChart() {
      nodes.chart.dataset.points = String(s.xs.length);
      nodes.chart.dataset.last = String(s.ys.at(-1) ?? '');
      s.chart?.setData([s.xs, s.ys]);
    }

    /** A trade made after the page loaded: a step on the chart at its time, a row on top of the table. */
    function addTrade(t, probability) {
      if (s.tradeIds.has(t.id)) return;
      s.tradeIds.add(t.id);
      nodes.trades.prepend(tradeRow(t));
      while (nodes.trades.children.length > TRADES_SHOWN) nodes.trades.lastElementChild.remove();
      const at = Math.max(Date.parse(t.createdAt) / 1000, s.xs.at(-1) ?? 0);
      s.xs.push(at, at);
      s.ys.push(s.ys.at(-1) ?? yes(t, t.probabilityBefore), probability);
      drawChart();
    }

    function commentItem(c) {
      const parent = c.replyTo ? s.comments.get(c.replyTo) : undefined;
      const author = c.author?.name ?? 'someone';
      return el(
        'li',
        { class: c.replyTo ? 'reply' : undefined, dataset: { id: c.id } },
        el(
          'div',
          { class: 'comment-meta' },
          parent ? `${author}, replying to ${parent.author?.name ?? 'someone'} · ` : `${author} · `,
          when(c.createdAt),
        ),
        el(
          'div',
          { class: c.deleted ? 'comment-text deleted' : 'comment-text' },
          c.deleted ? 'comment deleted' : c.text,
        ),
      );
    }

    function upsertComment(c) {
      const known = s.comments.has(c.id);
      s.comments.set(c.id, c);
      const item = commentItem(c);
      const old = nodes.comments.querySelector(`li[data-id="${CSS.escape(c.id)}"]`);
      if (old) old.replaceWith(item);
      else if (!known) nodes.comments.prepend(item);
      nodes.commentsNote.textContent = '';
    }

    const onEvent = (handle) => (data) => {
      if (s.closed) return;
      if (s.loaded) handle(data);
      else s.pending.push(() => handle(data));
    };
    const onMarketEvent = onEvent(applyMarket);
    // Opened before the first load, so that nothing committed in between is missed.
    const stream = openStream(`/api/markets/${encodeURIComponent(ref)}/events`, {
      'trade.created': onEvent(({ trade, market }) => {
        applyMarket(market);
        addTrade(trade, market.probability);
      }),
      'market.updated': onMarketEvent,
      'market.closed': onMarketEvent,
      'market.resolved': onMarketEvent,
      'market.cancelled': onMarketEvent,
      'market.deleted': onEvent(() => {
        nodes.facts.replaceChildren(el('span', { class: 'error' }, 'This market was deleted.'));
      }),
      'comment.created': onEvent(upsertComment),
      'comment.deleted': onEvent(upsertComment),
      // The stream could not resume from where we were: start again from the API.
      reset: () => {
        if (!s.closed && s.loaded) load();
      },
    });

    function buildChart() {
      s.chart?.destroy();
      const width = Math.max(nodes.chart.clientWidth - 16, 200);
      s.chart = new uPlot(
        {
          width,
          height: 240,
          scales: { x: { time: true }, y: { range: [0, 1] } },
          axes: [{}, { values: (_u, ticks) => ticks.map((v) => `${Math.round(v * 100)}%`) }],
          series: [
            {},
            {
              label: 'YES',
              stroke: '#0f8a5f',
              width: 2,
              fill: 'rgba(15, 138, 95, 0.08)',
              points: { show: false },
              value: (_u, v) => (v === null || v === undefined ? '–' : percent(v)),
            },
          ],
        },
        [s.xs, s.ys],
        nodes.chart,
      );
    }
    const onResize = () =>
      s.chart?.setSize({ width: Math.max(nodes.chart.clientWidth - 16, 200), height: 240 });
    window.addEventListener('resize', onResize);

    async function load() {
      s.loaded = false;
      let market;
      try {
        market = (await api(`/api/markets/${encodeURIComponent(ref)}`)).data;
      } catch (error) {
        if (s.closed) return;
        if (error.status === 404 || error.status === 400) stream.close();
        view.replaceChildren(errorText(error), el('p', {}, el('a', { href: '#/' }, 'All markets')));
        return;
      }
      const range = historyRange(market);
      const id = encodeURIComponent(market.id);
      const [history, trades, comments] = await Promise.allSettled([
        api(`/api/markets/${id}/history?interval=${range.interval}&from=${encodeURIComponent(range.from)}`),
        api(`/api/markets/${id}/trades?limit=${TRADES_SHOWN}`),
        api(`/api/markets/${id}/comments?order=newest&limit=${COMMENTS_SHOWN}`),
      ]);
      if (s.closed) return;

      s.market = null;
      applyMarket(market);
      // The chart: the probability at the end of each bucket, then now.
      s.xs = [];
      s.ys = [];
      if (history.status === 'fulfilled') {
        const { buckets } = history.value.data;
        const now = Date.now();
        if (buckets.length > 0) {
          s.xs.push(Date.parse(buckets[0].start) / 1000);
          s.ys.push(buckets[0].open);
        }
        for (const b of buckets) {
          s.xs.push(Math.min(Date.parse(b.start) + range.width, now) / 1000);
          s.ys.push(b.close);
        }
      }
      s.xs.push(Math.max(Date.now() / 1000, s.xs.at(-1) ?? 0));
      s.ys.push(market.probability);

      s.tradeIds = new Set();
      nodes.trades.replaceChildren();
      if (trades.status === 'fulfilled') {
        for (const t of trades.value.data) {
          s.tradeIds.add(t.id);
          nodes.trades.append(tradeRow(t));
        }
      }

      s.comments = new Map();
      nodes.comments.replaceChildren();
      if (comments.status === 'fulfilled') {
        // Oldest first into the map, so that a reply finds its parent's author.
        for (const c of [...comments.value.data].reverse()) s.comments.set(c.id, c);
        nodes.comments.append(...comments.value.data.map(commentItem));
        nodes.commentsNote.textContent = comments.value.data.length ? '' : 'No comments yet.';
      } else {
        nodes.commentsNote.textContent = `Comments are not available (${comments.reason.message}).`;
      }

      const parts = [
        el('p', {}, el('a', { href: '#/' }, '← All markets')),
        el(
          'section',
          { class: 'market-head' },
          nodes.name,
          el('div', {}, nodes.probability, nodes.probabilityLabel),
          nodes.answers,
          nodes.facts,
        ),
        nodes.description,
        el('h2', {}, 'Probability of YES'),
        history.status === 'fulfilled' ? undefined : errorText(history.reason),
        nodes.chart,
        el('h2', {}, 'Recent trades'),
        el(
          'table',
          {},
          el(
            'thead',
            {},
            el(
              'tr',
              {},
              el('th', {}, 'when'),
              el('th', {}, 'trade'),
              el('th', { class: 'num' }, 'amount'),
              el('th', { class: 'num' }, 'YES probability'),
            ),
          ),
          nodes.trades,
        ),
        trades.status === 'fulfilled' ? undefined : errorText(trades.reason),
        el('h2', {}, 'Comments'),
        nodes.commentsNote,
        nodes.comments,
      ];
      view.replaceChildren(...parts.filter((part) => part !== undefined));
      buildChart();
      drawChart();

      s.loaded = true;
      for (const apply of s.pending.splice(0)) apply();
    }
    load();

    return {
      close() {
        s.closed = true;
        stream.close();
        window.removeEventListener('resize', onResize);
        s.chart?.destroy();
      },
    };
  }

  // ---- routing: #/ is the list, #/m/<slug or id> one market ----------------------------------

  let current = null;
  function route() {
    current?.close();
    const match = /^#\/m\/([^/?#]+)$/.exec(location.hash);
    current = match ? showMarket(decodeURIComponent(match[1])) : showList();
  }
  window.addEventListener('hashchange', route);
  route();
})();
