"""Gazetteers for de-identification: Spanish given names, surnames, places.

Given names, surnames, countries, provinces and autonomous communities come
from the ``faker`` package's ``es_ES`` providers (MIT licence) when it is
installed (``pip install covidbank[nlp]``); a short built-in list is used
otherwise.  Spanish cities are listed here (the 150 or so largest
municipalities and every provincial capital).  All lists are matched after
accent stripping and lower-casing.
"""
from __future__ import annotations

from functools import lru_cache

from .text import strip_accents

__all__ = ["first_names", "last_names", "places", "countries", "CITIES", "key"]

#: Spanish municipalities: every provincial capital and the larger towns.
CITIES: tuple[str, ...] = (
    "Madrid", "Barcelona", "Valencia", "Sevilla", "Zaragoza", "Málaga", "Murcia", "Palma", "Palma de Mallorca",
    "Las Palmas", "Las Palmas de Gran Canaria", "Bilbao", "Alicante", "Córdoba", "Valladolid", "Vigo", "Gijón",
    "Hospitalet", "L'Hospitalet de Llobregat", "Vitoria", "Vitoria-Gasteiz", "A Coruña", "La Coruña", "Coruña", "Elche",
    "Granada", "Terrassa", "Badalona", "Oviedo", "Cartagena", "Sabadell", "Jerez", "Jerez de la Frontera", "Móstoles",
    "Santa Cruz de Tenerife", "Tenerife", "Pamplona", "Iruña", "Almería", "Alcalá de Henares", "Fuenlabrada",
    "Leganés", "San Sebastián", "Donostia", "Getafe", "Burgos", "Albacete", "Santander", "Castellón",
    "Castellón de la Plana", "Alcorcón", "San Cristóbal de La Laguna", "La Laguna", "Logroño", "Badajoz",
    "Salamanca", "Huelva", "Marbella", "Lleida", "Lérida", "Tarragona", "León", "Cádiz", "Jaén", "Ourense", "Orense",
    "Mataró", "Algeciras", "Dos Hermanas", "Parla", "Torrejón de Ardoz", "Alcobendas", "Reus", "Girona", "Gerona",
    "Lugo", "Cáceres", "Santiago de Compostela", "Santiago", "Lorca", "Telde", "Guadalajara", "Toledo", "Pontevedra",
    "Palencia", "Ciudad Real", "Zamora", "Ávila", "Avila", "Cuenca", "Huesca", "Segovia", "Soria", "Teruel",
    "Ceuta", "Melilla", "Ponferrada", "Talavera de la Reina", "Ferrol", "Manresa", "Torrevieja", "Benidorm",
    "Orihuela", "Gandía", "Sagunto", "Elda", "Alcoy", "Majadahonda", "Pozuelo de Alarcón", "Las Rozas",
    "San Sebastián de los Reyes", "Rivas-Vaciamadrid", "Coslada", "Aranjuez", "Valdemoro", "Collado Villalba",
    "Arganda del Rey", "Boadilla del Monte", "Tres Cantos", "Colmenar Viejo", "Motril", "Linares", "Úbeda",
    "Ronda", "Vélez-Málaga", "Fuengirola", "Torremolinos", "Estepona", "Mijas", "Benalmádena", "El Puerto de Santa María",
    "Chiclana", "Sanlúcar de Barrameda", "San Fernando", "La Línea", "El Ejido", "Roquetas de Mar", "Mérida",
    "Plasencia", "Don Benito", "Puertollano", "Tomelloso", "Valdepeñas", "Alcázar de San Juan", "Hellín",
    "Villarrobledo", "Almansa", "Miranda de Ebro", "Aranda de Duero", "Medina del Campo", "Avilés", "Mieres",
    "Langreo", "Torrelavega", "Barakaldo", "Baracaldo", "Getxo", "Irún", "Eibar", "Tudela", "Estella", "Calahorra",
    "Huesca", "Jaca", "Calatayud", "Sant Cugat", "Granollers", "Vic", "Igualada", "Figueres", "Blanes", "Tortosa",
    "Castelldefels", "Cornellà", "Sant Boi", "Rubí", "Viladecans", "El Prat", "Mollet", "Vilanova i la Geltrú",
    "Ibiza", "Eivissa", "Menorca", "Mahón", "Manacor", "Inca", "Lanzarote", "Arrecife", "Fuerteventura",
    "Puerto del Rosario", "Gran Canaria", "Mallorca", "Navarra", "Galicia", "Asturias", "Cantabria", "Andalucía",
    "Cataluña", "Catalunya", "Aragón", "Extremadura", "Castilla", "Castilla y León", "Castilla-La Mancha",
    "País Vasco", "Euskadi", "La Rioja", "Canarias", "Baleares", "Comunidad Valenciana", "Comunidad de Madrid",
    "Sant Joan d'Alacant", "Alzira", "Xàtiva", "Requena", "Ontinyent", "Villajoyosa", "Dénia", "Xàbia",
    "Vila-real", "Villarreal", "Burriana", "Vinaròs", "Paterna", "Torrent", "Mislata", "Burjassot", "Manises",
    "Buenos Aires", "Lima", "Bogotá", "Caracas", "Quito", "Santiago de Chile", "Montevideo", "La Habana",
    "Ciudad de México", "México D.F.", "Guayaquil", "Medellín", "Cali", "Rosario", "Córdoba", "Mendoza",
    "Lisboa", "Oporto", "París", "Londres", "Roma", "Berlín", "Bruselas", "Ámsterdam", "Casablanca", "Rabat",
    "Tánger", "Nueva York", "Miami", "Boston", "Talca", "Concepción", "Valparaíso", "Temuco", "Maracaibo",
)

_FIRST = ("Antonio", "José", "Manuel", "Francisco", "David", "Juan", "Javier", "Daniel", "Carlos", "Jesús",
          "Alejandro", "Miguel", "Rafael", "Pedro", "Pablo", "Ángel", "Sergio", "Fernando", "Jorge", "Luis",
          "María", "Carmen", "Ana", "Isabel", "Laura", "Cristina", "Marta", "Lucía", "Dolores", "Pilar",
          "Elena", "Sara", "Paula", "Raquel", "Rosa", "Teresa", "Patricia", "Beatriz", "Silvia", "Julia")
_LAST = ("García", "Rodríguez", "González", "Fernández", "López", "Martínez", "Sánchez", "Pérez", "Gómez",
         "Martín", "Jiménez", "Ruiz", "Hernández", "Díaz", "Moreno", "Muñoz", "Álvarez", "Romero", "Alonso",
         "Gutiérrez", "Navarro", "Torres", "Domínguez", "Vázquez", "Ramos", "Gil", "Ramírez", "Serrano",
         "Blanco", "Molina", "Morales", "Suárez", "Ortega", "Delgado", "Castro", "Ortiz", "Rubio", "Marín")


def key(word: str) -> str:
    """Gazetteer key of a word: lower case, no accents."""
    return strip_accents(word).lower()


def _faker(attr: str, module: str) -> tuple[str, ...]:
    try:
        mod = __import__(f"faker.providers.{module}.es_ES", fromlist=["Provider"])
        v = getattr(mod.Provider, attr)
        return tuple(v.keys()) if isinstance(v, dict) else tuple(v)
    except (ImportError, AttributeError):
        return ()


@lru_cache(maxsize=None)
def first_names() -> frozenset[str]:
    """Spanish given names (keys)."""
    names = _faker("first_names", "person") or _FIRST
    return frozenset(key(n) for n in names)


@lru_cache(maxsize=None)
def last_names() -> frozenset[str]:
    """Spanish surnames (keys)."""
    names = _faker("last_names", "person") or _LAST
    return frozenset(key(n) for n in names)


@lru_cache(maxsize=None)
def countries() -> frozenset[str]:
    """Country names in Spanish (keys), plus a few English spellings seen in Spanish text."""
    c = _faker("countries", "address") or ("España", "Portugal", "Francia", "Marruecos", "Argentina", "México")
    return frozenset(key(x) for x in c) | {"espana", "spain", "usa", "ee uu", "eeuu", "estados unidos", "reino unido",
                                            "republica argentina", "republica dominicana", "holanda", "rumania",
                                            "ee.uu.", "ee.uu", "ee. uu.", "u.s.a.", "england", "inglaterra", "uk"}


@lru_cache(maxsize=None)
def places() -> frozenset[str]:
    """Spanish cities, provinces and regions (keys)."""
    p = set(key(x) for x in CITIES)
    p |= {key(x) for x in _faker("states", "address")}
    p |= {key(x) for x in _faker("regions", "address")}
    return frozenset(p)


@lru_cache(maxsize=None)
def surrogate_pool() -> tuple[tuple[str, ...], tuple[str, ...], tuple[str, ...]]:
    """Given names, surnames and cities to draw surrogates from (original spelling)."""
    return (_faker("first_names", "person") or _FIRST, _faker("last_names", "person") or _LAST, CITIES[:60])
