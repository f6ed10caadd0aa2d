"""The words a page's address carries (retrieval/articles/address.py): one tokenisation,
read for a headline and for the article's subject.  Addresses are fictional."""
from retrieval.articles.address import headline_words, url_words

PORTAL = "https://hoalinh.lamha.gov.vn/tin-tuc/hoi-nong-dan-huyen-hoa-linh-tong-ket-nam-2024-a78189.html"


def test_both_readers_read_the_same_words_of_a_page_name():
    # The headline keeps short numbers ("2024") to spell them; the subject keeps words only.
    assert headline_words(PORTAL) == ["hoi", "nong", "dan", "huyen", "hoa", "linh", "tong", "ket", "nam", "2024"]
    hosts, words = url_words(PORTAL)
    assert hosts == {"hoalinh", "lamha"}
    assert words == [w for w in headline_words(PORTAL) if w.isalpha()]


def test_the_extension_and_record_numbers_are_no_words():
    # ".html" once read as the word "html" in the subject; ids around the words go.
    assert "html" not in url_words(PORTAL)[1]
    assert url_words("https://lamha.vn/post1234567/dai-hoi-hoi-ccb-xa-tan-lap.tpo")[1] == [
        "dai", "hoi", "hoi", "ccb", "xa", "tan", "lap"]
    assert headline_words("https://lamha.vn/22092020-trao-nha-mai-am-tai-xa-tan-lap-4747.html") == [
        "trao", "nha", "mai", "am", "tai", "xa", "tan", "lap"]


def test_the_readers_differ_where_their_jobs_do():
    # A section named after a congress: the subject reads it, the headline only reads the page's name.
    url = "https://lamha.gov.vn/dai-hoi-mttq-nhiem-ky-2019-2024/Pages/7239.aspx"
    assert url_words(url)[1] == ["dai", "hoi", "mttq", "nhiem", "ky"]
    assert headline_words(url) == []
    # A term written as one number is two years to the subject.
    assert url_words("https://lamha.gov.vn/dai-hoi-mttq-xa-tan-lap-nhiem-ky-20192024.405")[1][-2:] == ["2019", "2024"]
    # Fewer than four words spell no headline, but still name a place beside it.
    assert headline_words("https://lamha.gov.vn/tin/xa-tan-lap-a1.html") == []
    assert url_words("https://lamha.gov.vn/tin/huyen-hoa-linh-ra-quan.html")[1] == ["huyen", "hoa", "linh", "ra", "quan"]


def test_words_with_accents_or_escapes_are_read_by_neither():
    # An address spelling accents (raw or percent-escaped) gives neither reader that word.
    for url in ("https://lamha.vn/%C4%91%E1%BA%A1i-h%E1%BB%99i-xa-tan-lap-lan-thu-nhat",
                "https://lamha.vn/đại-hội-xa-tan-lap-lan-thu-nhat"):
        assert url_words(url)[1] == ["xa", "tan", "lap", "lan", "thu", "nhat"]
        assert headline_words(url) == []


def test_odd_addresses_give_what_they_have():
    assert url_words(None) == (frozenset(), []) and headline_words(None) == []
    assert url_words("") == (frozenset(), []) and headline_words("") == []
    assert url_words("https://lamha.vn") == ({"lamha"}, [])
    # A path alone, or an address without its scheme.
    assert url_words("/tin/hoi-nghi-tong-ket-xa-tan-lap.html") == (frozenset(), [
        "hoi", "nghi", "tong", "ket", "xa", "tan", "lap"])
    assert url_words("hoalinh.lamha.gov.vn/hoi-nghi-tong-ket")[0] == {"hoalinh", "lamha"}
    # Never an error, even for an address the standard library rejects.
    assert headline_words("http://[lamha/hoi-nghi-tong-ket-xa-tan-lap") == [
        "hoi", "nghi", "tong", "ket", "xa", "tan", "lap"]
