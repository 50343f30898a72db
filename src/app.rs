//! The page: the HTML shell (server only) and the root component (server and browser).

use crate::ui::announcer::Announcer;
use crate::ui::detail::DetailPanel;
use crate::ui::market::MarketTable;
use crate::ui::scoreboard::Scoreboard;
use crate::ui::status::StatusBar;
use crate::ui::store::{Dashboard, PageState};
use crate::ui::ticker::TickerTape;
use leptos::prelude::*;
use leptos_meta::{provide_meta_context, MetaTags, Stylesheet, Title};

/// The document around the app, rendered on the server only.
pub fn shell(options: LeptosOptions) -> impl IntoView {
    view! {
        <!DOCTYPE html>
        <html lang="en">
            <head>
                <meta charset="utf-8"/>
                <meta name="viewport" content="width=device-width, initial-scale=1"/>
                <meta name="color-scheme" content="dark light"/>
                <meta name="description" content="Live market quotes and sports scores"/>
                <link rel="icon" href="/favicon.svg" type="image/svg+xml"/>
                // Apply a saved theme before the first paint, so a dark-theme user never sees
                // a flash of the system theme.
                <script>
                    "try{var t=JSON.parse(localStorage.getItem('livetape.theme'));if(t==='dark'||t==='light')document.documentElement.dataset.theme=t}catch(e){}"
                </script>
                <AutoReload options=options.clone()/>
                <HydrationScripts options/>
                <MetaTags/>
            </head>
            <body>
                <App/>
            </body>
        </html>
    }
}

/// The dashboard. On the server the live snapshot comes from the request's context; in the
/// browser the same snapshot is read back from the page, so hydration starts from exactly what
/// the HTML shows, and then the feed takes over.
#[component]
pub fn App() -> impl IntoView {
    provide_meta_context();
    let page = SharedValue::new(|| use_context::<PageState>().unwrap_or_default()).into_inner();
    let dash = Dashboard::new(&page);
    provide_context(dash);

    #[cfg(feature = "hydrate")]
    Effect::new(move |_| crate::client::start(dash));

    view! {
        <Stylesheet id="leptos" href="/pkg/livetape.css"/>
        <Title text="livetape · live market & scores"/>
        <a class="skip" href="#market-title">"Skip to the market"</a>
        <StatusBar/>
        <TickerTape/>
        <main class="layout">
            <MarketTable/>
            <div class="side">
                <DetailPanel/>
                <Scoreboard/>
            </div>
        </main>
        <Announcer/>
    }
}
