"""The detector: its contract, the cases that decide roles, and its scores on the labelled
corpus (a regression floor, not a timing)."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from accesswatch.cli import app
from accesswatch.detect import DETECTOR_VERSION, detect, load_gazetteer
from accesswatch.evaluate import evaluate, load_labelled

from .conftest import CONFIG_DIR, ROOT

GAZ = load_gazetteer(CONFIG_DIR / "vendors.toml")
BODY = "\n\nThe company did not respond to a request for comment on Tuesday."


def d(title: str, text: str = BODY):
    return detect(title, text, GAZ)


@pytest.mark.parametrize("title,actor,target,action", [
    ("Anthropic cuts off OpenAI's access to Claude models", "Anthropic", "OpenAI", "revoke"),
    ("Anthropic revokes Windsurf's access to Claude ahead of OpenAI deal", "Anthropic", "Windsurf", "revoke"),
    ("Windsurf loses access to Claude as Anthropic tightens supply", "Anthropic", "Windsurf", "revoke"),
    ("xAI was cut off from Claude by Anthropic last week", "Anthropic", "xAI", "revoke"),
    ("OpenAI suspends ByteDance account over use of GPT outputs to train Doubao", "OpenAI", "ByteDance", "suspend"),
    ("OpenAI is investigating whether DeepSeek distilled its models through the API", "OpenAI", "DeepSeek", "probe"),
    ("Google restores Moonshot AI's access to the Gemini API after review", "Google", "Moonshot AI", "restore"),
    ("Mistral AI threatens to cut off Groq's access to its models over unpaid fees", "Mistral AI", "Groq", "threaten"),
    ("OpenAI throttles Perplexity's API account amid billing dispute", "OpenAI", "Perplexity", "restrict"),
    # headline passives without the auxiliary, and objects the gazetteer does not know
    ("Zhipu AI cut off from ByteDance's Doubao models over competing-model clause", "ByteDance", "Zhipu AI", "revoke"),
    ("Groq caps Lumenfold as agent traffic spikes", "Groq", "Lumenfold", "restrict"),
    ("Anthropic reinstates Lumen Harbor after ownership review", "Anthropic", "Lumen Harbor", "restore"),
])
def test_roles_from_the_headline(title: str, actor: str, target: str, action: str) -> None:
    r = d(title)
    assert (r.is_dispute, r.label, r.actor, r.target, r.action) == (True, "positive", actor, target, action)
    assert r.evidence and r.evidence[0] == title and r.detector_version == DETECTOR_VERSION


def test_class_of_companies_is_a_target() -> None:
    r = d("Anthropic bars Chinese-controlled companies from using Claude",
          "Anthropic said it would stop selling Claude to companies majority-owned by Chinese entities, "
          "citing national security." + BODY)
    assert r.is_dispute and r.actor == "Anthropic" and r.target is None and r.reason == "national security"


@pytest.mark.parametrize("title", [
    "Claude API access restored after three-hour outage",                       # outage
    "OpenAI bans accounts tied to Russian and Iranian influence operations",    # malicious users
    "Anthropic has not cut off OpenAI, a spokesperson said",                    # negation
    "Could OpenAI cut off Microsoft? Analysts weigh the risk",                  # hypothetical
    "Italy's regulator orders DeepSeek to block its chatbot",                   # authority
    "US restricts Nvidia H20 chip exports to China",                            # chips
    "Twitter cuts off third-party clients in API change",                       # no AI vendor
    "OpenAI cuts API prices by 40% for all developers",                         # pricing for all
    "Apple gains access to Gemini models in new partnership with Google",       # partnership
    "Anthropic sperrt OpenAI den Zugang? Nein: neues Modell vorgestellt",       # foreign, not a dispute
    "OpenAI restores GPT-4o to ChatGPT after GPT-5 backlash",                   # a product, not an object party
    "Google bans Russian accounts from Gemini sign-ups",                        # a nationality, not an org
])
def test_hard_negatives(title: str) -> None:
    r = d(title)
    assert not r.is_dispute, (title, r)


def test_platform_blocking_ai_crawler_is_borderline() -> None:
    r = d("Reddit blocks Anthropic's crawler from scraping its posts",
          "Reddit said it had blocked Anthropic's ClaudeBot crawler after it kept scraping the site." + BODY)
    assert r.label == "borderline" and not r.is_dispute and r.actor == "Reddit"


def test_headline_from_first_line_when_title_is_null() -> None:
    r = detect(None, "Anthropic cuts off OpenAI's access to Claude\n\nMore text here." + BODY, GAZ)
    assert r.is_dispute and r.evidence[0] == "Anthropic cuts off OpenAI's access to Claude"


@pytest.mark.parametrize("title,text,actor,target", [
    ("Meta entzieht Together AI den Zugang zu neuen Llama-Modellen", "Der Konzern bestätigte den Schritt.",
     "Meta", "Together AI"),
    # French "priver de", a product as the object
    ("Mistral AI prive les développeurs de Cohere de ses modèles Le Chat", "L'entreprise parisienne n'a pas commenté.",
     "Mistral AI", "Cohere"),
    # Portuguese, the staff of a rival as the object
    ("Perplexity bane funcionários da Genspark de usar seu serviço", "A empresa não comentou.", "Perplexity", "Genspark"),
    # German, a class of companies ("Firmen mit russischen Eigentümern")
    ("OpenAI sperrt Firmen mit russischen Eigentümern aus", "Das Unternehmen aktualisierte seine Nutzungsbedingungen.",
     "OpenAI", None),
    # Spanish, a distillation accusation ("tiene pruebas de que")
    ("Google asegura tener pruebas de que Zhipu AI usó sus respuestas para entrenar GLM", "Zhipu AI no respondió.",
     "Google", "Zhipu AI"),
    # Japanese puts the object before the verb
    ("Anthropic、Replitへの「Claude」供給を縮小", "同社はコメントを控えた。", "Anthropic", "Replit"),
])
def test_foreign_headline_disputes(title: str, text: str, actor: str, target: str | None) -> None:
    r = d(title, text)
    assert r.is_dispute and (r.actor, r.target) == (actor, target), r


@pytest.mark.parametrize("title,text", [
    ("Mistral AI ferme ses bureaux de Londres", "L'entreprise regroupe ses équipes à Paris."),
    ("OpenAI bloquea cuentas de estafadores que usaban ChatGPT", "Los usuarios maliciosos fueron identificados."),
    ("Google limita el uso gratuito de Gemini para todos los usuarios", "El cambio entra en vigor el lunes."),
    ("Meta verbietet Mitarbeitern die Nutzung von ChatGPT", "Die Regel gilt ab sofort."),
])
def test_foreign_non_disputes(title: str, text: str) -> None:
    assert not d(title, text).is_dispute


@pytest.mark.parametrize("title,text,actor,target", [
    ("Anthropic停止向中资控股企业提供Claude服务", "该公司周五更新了服务条款。", "Anthropic", None),
    ("微软暂停与月之暗面关联的Azure账户，称其涉嫌模型蒸馏", "微软表示正在调查。", "Microsoft", "Moonshot AI"),
    ("谷歌切断字节跳动对Gemini API的访问", "谷歌未予置评。", "Google", "ByteDance"),
])
def test_chinese_headline_disputes(title: str, text: str, actor: str, target: str | None) -> None:
    r = d(title, text)
    assert r.is_dispute and (r.actor, r.target) == (actor, target), r


@pytest.mark.parametrize("title,text", [
    ("DeepSeek推出错峰优惠，夜间API调用价格最高降75%", "阿里云和百度此前也下调了价格。"),
    ("百度发布文心大模型5.0，限制免费用户调用次数", "所有用户均受影响。"),
    ("OpenAI发布GPT-5，向所有用户开放", "微软表示将在Azure上提供该模型。"),
    ("Anthropic、Claude 4を発表", "新しいモデルはAPIで利用できる。"),
])
def test_chinese_and_japanese_non_disputes(title: str, text: str) -> None:
    assert not d(title, text).is_dispute


def test_scores_on_the_labelled_corpus_do_not_regress() -> None:
    recs = load_labelled([ROOT / "tests" / "data" / "detect"])
    assert len(recs) >= 250
    assert sum(r["label"] == "positive" for r in recs) >= 80
    assert sum(r["label"] == "negative" for r in recs) >= 120
    # floors a little under the current figures: a guard against regressions, not the
    # product's bar (that is in the closing notes and `accesswatch eval`)
    # (roles are in-sample for the role model: these floors only guard against regressions)
    for split, p_min, r_min, roles_min in (("dev", 0.95, 0.90, 0.93), ("test", 0.95, 0.90, 0.95)):
        rep = evaluate([r for r in recs if r["split"] == split], GAZ)
        assert rep.precision >= p_min and rep.recall >= r_min, (split, rep.as_dict())
        assert rep.both_ok / rep.roles_checked >= roles_min, (split, rep.as_dict())


def test_detect_command_reads_jsonl_and_survives_bad_lines() -> None:
    lines = "\n".join([
        json.dumps({"id": "a", "title": "Anthropic cuts off OpenAI's access to Claude", "text": "x"}),
        "{not json",
        json.dumps({"id": "b", "title": None, "text": 5}),
        json.dumps({"id": "c", "title": None, "text": "OpenAI launches a new model\n\nIt is fast."}),
    ])
    res = CliRunner().invoke(app, ["detect", "--config", str(CONFIG_DIR)], input=lines)
    assert res.exit_code == 0, res.output
    out = [json.loads(x) for x in res.output.splitlines()]
    assert [o.get("id") for o in out] == ["a", 2, "b", "c"]
    assert out[0]["is_dispute"] and out[0]["actor"] == "Anthropic" and out[0]["target"] == "OpenAI"
    assert "error" in out[1] and "error" in out[2]
    assert out[3]["is_dispute"] is False and set(out[3]) >= {"label", "score", "evidence", "detector_version"}


def test_eval_command_reports_figures_and_errors() -> None:
    res = CliRunner().invoke(app, ["eval", str(ROOT / "tests" / "data" / "detect"), "--split", "test",
                                   "--config", str(CONFIG_DIR), "--json"])
    assert res.exit_code == 0, res.output
    rep = json.loads(res.output)
    assert rep["n"] > 50 and 0 < rep["precision"] <= 1 and "errors" in rep
    table = CliRunner().invoke(app, ["eval", str(ROOT / "tests" / "data" / "detect"), "--config", str(CONFIG_DIR)])
    assert table.exit_code == 0 and "precision" in table.output and "predicted label by kind" in table.output


def test_the_shipped_calibration_model_is_current_and_reproducible() -> None:
    """The model in the package was trained on exactly the labelled corpus in the tree
    (dev + test, never the blind sets), and training again gives the same weights: a
    corpus change without `accesswatch train-detector` fails here."""
    from accesswatch.calibrate import FEATURE_VERSION, data_fingerprint, load_model
    from accesswatch.evaluate import train_model

    model = load_model()
    assert model is not None, "no shipped model: run accesswatch train-detector"
    recs = [r for r in load_labelled([ROOT / "tests" / "data" / "detect"]) if r["split"] != "blind"]
    assert model.meta["data"] == data_fingerprint(recs), "the labelled corpus changed: run accesswatch train-detector"
    again = train_model(recs, GAZ, model.meta["c"], c_text=model.meta["c_text"], solo=model.solo_threshold)
    assert DETECTOR_VERSION.endswith(model.meta["id"]) and FEATURE_VERSION == "f2"
    # the same weights (to the rounding a BLAS or scikit-learn release may move)
    assert set(again.weights) == set(model.weights)
    assert all(abs(again.weights[k] - w) < 1e-3 for k, w in model.weights.items())
    common = set(again.ngrams) & set(model.ngrams)
    assert len(common) >= 0.99 * max(len(again.ngrams), len(model.ngrams)) > 10000
    assert all(abs(again.ngrams[k] - model.ngrams[k]) < 1e-3 for k in common)
    assert set(again.roles) == set(model.roles) and len(model.roles) > 1000
    assert all(abs(again.roles[k] - w) < 1e-3 for k, w in model.roles.items())


def test_the_role_model_chooses_among_the_articles_leading_parties() -> None:
    """Every ordered pair of the article's leading parties is a candidate (the actor an AI
    vendor), the rules' own pair marked; the role model's best pair is the detection's."""
    from dataclasses import replace

    from accesswatch.calibrate import load_model
    from accesswatch.detect import role_candidates
    from accesswatch.roles import choose

    title = "Monday Memo: GPU prices, an awkward Cursor login, and Meta's new glasses"
    text = ("Good morning. Three things this week.\n\nFirst, GPU rental prices fell again.\n\n"
            "Second, the awkward login. Engineers at xAI opened Cursor on Thursday and found Claude gone. Anthropic "
            "has cut off the Grok maker, whose staff had been using Claude through the coding tool, saying its terms "
            "bar customers from building competing models. Cursor says its other users will see no change.\n\n"
            "Third, Meta showed new glasses with a built-in assistant.")
    cands = role_candidates(title, text, GAZ)
    pairs = [p for p, _ in cands]
    assert {("Anthropic", "xAI"), ("Anthropic", "Cursor"), ("xAI", "Anthropic"), ("Meta", "xAI")} <= set(pairs)
    assert len(pairs) == len(set(pairs)) and all(a != t for a, t in pairs)
    assert [p for p, f in cands if f["rule_pick"]] == [("Anthropic", "xAI")]
    model = load_model()
    assert model is not None
    got = detect(title, text, GAZ)
    assert got.is_dispute and (got.actor, got.target) == choose(model.roles, cands) == ("Anthropic", "xAI")
    # the pick is the role model's: one that trusts only "the other party named first" says Cursor
    first_named = replace(model, roles={"t_first_other": 1.0, "rule_actor": 1.0})
    assert (detect(title, text, GAZ, model=first_named).actor, detect(title, text, GAZ, model=first_named).target) \
        == ("Anthropic", "Cursor")


def test_the_learned_stage_keeps_the_rules_roles_and_finds_what_they_cannot_parse() -> None:
    plain = detect("OpenAI launches GPT-5 with longer context",
                   "The model is available today for all developers through the API. Pricing is unchanged.", GAZ)
    assert plain.label == "negative" and plain.score < 0.2
    rules = detect("Anthropic cuts off OpenAI's access to Claude models", BODY, GAZ, model=None)
    both = detect("Anthropic cuts off OpenAI's access to Claude models", BODY, GAZ)
    assert rules.label == both.label == "positive" and (rules.actor, rules.target) == (both.actor, both.target)
    assert rules.detector_version != both.detector_version and rules.evidence == both.evidence
    # a target's response with no access verb the rules can tie to the parties: the word
    # model finds it; the roles are the leading parties, the evidence its heaviest sentences
    title = "Cursor CEO: 'We didn't train on Gemini, and we want our access back'"
    text = ("Cursor's chief executive said on Thursday that the company never used Gemini outputs to build its own "
            "models, a day after Google told the coding startup its API keys no longer worked.\n\n"
            "\"We were blindsided,\" he said in an interview. \"We pay for every token, we follow the terms, and we "
            "want our access back.\" Google said it had flagged activity consistent with training a competing model "
            "and that its review was ongoing.\n\nDevelopers on Cursor's forum reported errors from Gemini models since "
            "Wednesday evening. The startup has moved users to other models in the meantime.")
    assert detect(title, text, GAZ, model=None).label == "negative"
    words = detect(title, text, GAZ)
    assert words.label == "positive" and (words.actor, words.target) == ("Google", "Cursor")
    assert words.evidence and all(e in title + " " + text for e in words.evidence)


def test_train_detector_command_writes_a_model_the_detector_can_use(tmp_path) -> None:
    out = tmp_path / "model.json"
    res = CliRunner().invoke(app, ["train-detector", str(ROOT / "tests" / "data" / "detect" / "holdout1.jsonl"),
                                   "--split", "all", "--config", str(CONFIG_DIR), "-o", str(out), "--no-cv"])
    assert res.exit_code == 0, res.output
    from accesswatch.calibrate import load_model

    model = load_model(str(out))
    assert model is not None and model.meta["records"] == 100 and model.weights
    r = detect("Anthropic cuts off OpenAI's access to Claude models", BODY, GAZ, model=model)
    assert r.is_dispute and r.detector_version.endswith(model.meta["id"])
    # the blind sets are never trained on, whatever the split asked for
    blind = tmp_path / "blind9.jsonl"
    blind.write_text((ROOT / "tests" / "data" / "detect" / "holdout1.jsonl").read_text().replace('"split": "test"', '"x": 1'))
    res = CliRunner().invoke(app, ["train-detector", str(blind), "--split", "all", "--config", str(CONFIG_DIR),
                                   "-o", str(out), "--no-cv"])
    assert res.exit_code != 0 and "no labelled records" in res.output


LAUNCH = ("Apple on Tuesday unveiled a new iPad Pro with a faster chip and a brighter screen, the first update to "
          "its high-end tablet in eighteen months.\n\nThe device goes on sale next week in 30 countries, starting "
          "at $999, the company said at an event in Cupertino. Analysts expect modest sales growth this quarter.")


@pytest.mark.parametrize("tail", [
    "Read more: Anthropic cuts off OpenAI's access to Claude models",
    "Related: Google suspends ByteDance's Gemini API access over distillation claims",
    "More from our site\nOpenAI revokes DeepSeek API keys\nMeta unveils new glasses\nMeta bars xAI from Llama",
    "Anthropic cuts off OpenAI's access to Claude models",
])
def test_links_to_other_stories_at_the_end_of_a_page_are_not_the_story(tail: str) -> None:
    """Extracted pages keep teasers for other stories: a bare headline after the article's
    last sentence, or a "Read more:" line, is not what the page reports."""
    assert not d("Apple unveils new iPad Pro", LAUNCH + "\n\n" + tail).is_dispute
    # the same article reporting a cutoff in its own sentences is still a dispute
    body = LAUNCH + "\n\nSeparately, Anthropic cut off OpenAI's access to its Claude models on Friday, saying it had broken the terms."
    r = d("Anthropic cuts off OpenAI's access to Claude", body + "\n\n" + tail)
    assert r.is_dispute and (r.actor, r.target) == ("Anthropic", "OpenAI")


def test_a_denied_report_of_a_cutoff_is_not_a_cutoff_but_a_denied_accusation_is_a_response() -> None:
    text = ("\"Reports that we have suspended services to Tencent are untrue,\" Alibaba Cloud said in a statement on "
            "Monday. The company said Qwen models remain available to every customer.")
    assert not d("Alibaba Cloud says Qwen stays available to all customers", text).is_dispute
    text = ("StepFun denied on Monday that it had used Gemini outputs to train its models, saying Google's accusation "
            "was unfounded. Google said last week it had found StepFun accounts harvesting outputs from its API.")
    r = d("StepFun rejects Google's distillation accusation", text)
    assert r.is_dispute and (r.actor, r.target) == ("Google", "StepFun")


def test_models_back_on_a_platform_is_a_restore_unless_the_lead_is_about_an_outage() -> None:
    r = d("Cohere's Command models are back on Fireworks AI",
          "The Canadian model maker had terminated the inference platform's licence in February over where it served "
          "the models. The two companies have now signed a new agreement.")
    assert r.is_dispute and (r.actor, r.target, r.action) == ("Cohere", "Fireworks AI", "restore")
    assert not d("Status update: Gemini models available again in Lovable",
                 "Gemini models are available again in Lovable after an outage at Google Cloud that lasted three "
                 "hours. No data was lost.").is_dispute


def test_a_roundup_item_told_with_its_date_is_news_when_the_words_say_so() -> None:
    """The rules read "in March, weeks after ..." as background; the word model reads a
    roundup item about a cutoff, and the background cap gives way."""
    title = "Agents Weekly: a browser agent grows up, a new benchmark, and agent insurance"
    text = ("Welcome back. Three things this week.\n\nThe browser agent. OpenAI's Operator can now fill in forms across "
            "tabs, and early testers say it is finally fast enough to use.\n\nManus loses its model supply. Anthropic "
            "cut off Manus's use of Claude in March, weeks after Meta's acquisition of the agent startup became public, "
            "according to people familiar with the matter. Manus has moved most of its workloads to other models.\n\n"
            "Agent insurance. Two insurers now sell cover for mistakes made by AI agents, priced per seat.")
    assert not detect(title, text, GAZ, model=None).is_dispute
    r = detect(title, text, GAZ)
    assert r.is_dispute and (r.actor, r.target) == ("Anthropic", "Manus AI")


def test_a_small_company_the_gazetteer_does_not_know_is_the_target_not_its_founder_or_its_buyer() -> None:
    title = "What happened this week, and what it means for Brightloom customers"
    text = ("Posted by Dana Ortiz, co-founder and CEO, Brightloom\n\nI want to explain why Brightloom has been slow "
            "since Monday, and what we are doing about it. Last week we announced that Brightloom is joining OpenAI. "
            "On Monday afternoon we received an email from Anthropic telling us our agreement was terminated, "
            "effective immediately, because of the acquisition. Brightloom's agents now run on other models, and "
            "Ortiz said the team is working through the weekend.")
    r = d(title, text)
    assert r.is_dispute and (r.actor, r.target) == ("Anthropic", "Brightloom")
